"""Parses attn attributes in their MLIR text form into Python values.

`parse("#attn.and<#attn.causal, #attn.window<left = 512>>")` returns
`Attr("and", children=[Attr("causal", params={}), Attr("window", params={
"left": 512})])`. Parameters are ints, floats, `None` for `?`, booleans,
keywords (enum values, as str), lists and nested attributes. Defaults are
not filled in here; the reference semantics know them.
"""

import dataclasses
import re

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<attr>\#attn\.[a-z_]+)
    | (?P<float>-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+)
    | (?P<int>-?\d+)
    | (?P<word>[a-z_][a-z_0-9]*)
    | (?P<punct>[<>\[\],=?])
    )""", re.X)


@dataclasses.dataclass
class Attr:
    name: str
    params: dict = dataclasses.field(default_factory=dict)
    children: list = dataclasses.field(default_factory=list)
    keyword: str = ""


class ParseError(ValueError):
    pass


def _tokenize(text):
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ParseError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text):
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self, value=None):
        kind, text = self.peek()
        if kind is None or (value is not None and text != value):
            raise ParseError(f"expected {value!r}, got {text!r}")
        self.pos += 1
        return kind, text

    def value(self):
        kind, text = self.peek()
        if kind == "attr":
            return self.attr()
        self.take()
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if text == "?":
            return None
        if text == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if kind == "word":
            return {"true": True, "false": False}.get(text, text)
        raise ParseError(f"unexpected {text!r}")

    def attr(self):
        _, text = self.take()
        result = Attr(text[len("#attn."):])
        if self.peek()[1] != "<":
            return result
        self.take("<")
        while self.peek()[1] != ">":
            kind, text = self.peek()
            if kind == "word" and self.tokens[self.pos + 1][1] == "=":
                self.take()
                self.take("=")
                result.params[text] = self.value()
            elif kind == "attr":
                result.children.append(self.attr())
            elif kind == "word":
                self.take()
                result.keyword = text
            else:
                raise ParseError(f"unexpected {text!r} in #attn.{result.name}")
            if self.peek()[1] == ",":
                self.take(",")
        self.take(">")
        return result


def parse(text):
    """Parses one `#attn.*` attribute."""
    parser = _Parser(text)
    result = parser.attr()
    if parser.pos != len(parser.tokens):
        raise ParseError(f"trailing text after attribute: {text!r}")
    return result
