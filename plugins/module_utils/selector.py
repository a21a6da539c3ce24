"""Calico selector language: safe quoting, a full parser and fast label matching.

The one selector implementation of the collection: renderers build selectors with
:func:`quote`, :func:`eq`, :func:`in_set`, :func:`all_of` and :func:`any_of`; the evaluator
and the gate call :func:`parse` and :meth:`Selector.matches`.

The grammar, the tokenizer's corner cases and the canonical form follow Calico's
``libcalico-go/lib/selector`` (tokenizer, recursive-descent parser, one node per operator):

* whitespace is a space or a tab only; ``""`` and blank input mean ``all()``;
* a label key is 1-512 characters of ``[a-zA-Z0-9_./-]``; values are string literals in
  single or double quotes, without escapes (``k == v`` with a bare value is an error);
* ``starts with`` / ``ends with`` / ``not in`` may be written as one word (``startswith``);
* a set literal may be empty (``k in {}``) or end with a comma;
* leading ``!`` collapse (``!!x`` is ``x``); ``!`` binds tighter than ``&&``, which binds
  tighter than ``||``; ``!a == 'b'`` is ``!(a == 'b')``;
* canonical form: ``"..."`` unless the value holds a ``"``, ``&&`` / ``||`` groups in
  parentheses, set values sorted and de-duplicated: ``(a == "x" && b in {"p", "q"})``.

One deliberate difference: ``global()`` matches no labels here (Calico's node evaluates to
true); it is a scope marker for ``namespaceSelector`` that the evaluator handles through
:attr:`Selector.is_global`.

Plain Python, no Ansible import; label keys and values are checked by ``labels.py``.
"""

import enum
import functools
import re

from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import validate_label_key, validate_label_value

__all__ = ["ALL", "Selector", "SelectorError", "all_of", "any_of", "eq", "in_set", "parse", "quote"]

MAX_LABEL_LENGTH = 512
_WHITESPACE = " \t"
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
_IDENT = re.compile(r"[a-zA-Z0-9_./-]*")


class SelectorError(ValueError):
    """A selector that does not parse: says where (character offset) and what was expected."""

    def __init__(self, reason, text, position):
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__("selector %r, position %d: %s" % (text, position, reason))


# --------------------------------------------------------------------------- tokenizer

class Kind(enum.Enum):
    """Token kinds; the value is how an error message names the token."""

    LABEL = "label"
    STRING = "string"
    LBRACE = "'{'"
    RBRACE = "'}'"
    COMMA = "','"
    EQ = "'=='"
    NE = "'!='"
    IN = "'in'"
    NOT = "'!'"
    NOT_IN = "'not in'"
    CONTAINS = "'contains'"
    STARTS_WITH = "'starts with'"
    ENDS_WITH = "'ends with'"
    ALL = "'all()'"
    HAS = "'has()'"
    LPAREN = "'('"
    RPAREN = "')'"
    AND = "'&&'"
    OR = "'||'"
    GLOBAL = "'global()'"
    EOF = "end of selector"


class Token:
    """One token: its kind, its value (label key or string) and its character offset."""

    __slots__ = ("kind", "value", "position")

    def __init__(self, kind, value, position):
        self.kind = kind
        self.value = value
        self.position = position

    def __repr__(self):
        return "Token(%s, %r, %d)" % (self.kind.name, self.value, self.position)

    def describe(self):
        """The token as an error message shows it: ``label 'app'``, ``string "x"``, ``'&&'``."""
        if self.kind is Kind.LABEL:
            return "label %r" % self.value
        if self.kind is Kind.STRING:
            return "string %s" % _canonical_literal(self.value)
        if self.kind is Kind.HAS:
            return "'has(%s)'" % self.value
        return self.kind.value


_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, "{": Kind.LBRACE, "}": Kind.RBRACE, ",": Kind.COMMA}
_PAIRS = {"==": Kind.EQ, "&&": Kind.AND, "||": Kind.OR}
# Operators allowed right after a label: (words, kind); the last word must end at a word boundary.
_LABEL_OPERATORS = (
    (("contains",), Kind.CONTAINS),
    (("starts", "with"), Kind.STARTS_WITH),
    (("ends", "with"), Kind.ENDS_WITH),
    (("not", "in"), Kind.NOT_IN),
    (("in",), Kind.IN),
)
_OPERATOR_NAMES = "==, !=, in, not in, contains, starts with or ends with"
_OPERAND_NAMES = "a label, has(), all(), global(), '!' or '('"


def _skip_space(text, pos):
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _cut_words(text, pos, words):
    """End offset of ``words`` (blanks allowed between them) at ``pos``, or None."""
    for index, word in enumerate(words):
        if index:
            pos = _skip_space(text, pos)
        if not text.startswith(word, pos):
            return None
        pos += len(word)
    if pos < len(text) and text[pos] in _IDENT_CHARS:
        return None
    return pos


def _cut_identifier(text, pos, expected):
    """The label key at ``pos`` and its end offset; errors when missing or too long."""
    end = _IDENT.match(text, pos).end()
    if end == pos:
        found = repr(text[pos]) if pos < len(text) else "end of selector"
        raise SelectorError("expected %s, found %s" % (expected, found), text, pos)
    if end - pos > MAX_LABEL_LENGTH:
        raise SelectorError("label key longer than %d characters" % MAX_LABEL_LENGTH, text, pos)
    return text[pos:end], end


def _cut_call(text, pos, name, kind):
    """``name(`` was seen at ``pos``: return the token for ``name()`` / ``has(key)`` and the end."""
    start = pos
    pos = _skip_space(text, pos + len(name) + 1)
    value = None
    if kind is Kind.HAS:
        value, pos = _cut_identifier(text, pos, "a label key inside has(")
        pos = _skip_space(text, pos)
    if not text.startswith(")", pos):
        raise SelectorError("expected ')' to close %s(" % name, text, pos)
    return Token(kind, value, start), pos + 1


def tokenize(text):
    """Split a selector into tokens, ending with an EOF token; raises SelectorError."""
    tokens = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        start = pos
        char = text[pos]
        if char in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[char], None, start))
            pos += 1
        elif char in "\"'":
            end = text.find(char, pos + 1)
            if end < 0:
                raise SelectorError("unterminated string, expected a closing %s" % char, text, start)
            tokens.append(Token(Kind.STRING, text[pos + 1:end], start))
            pos = end + 1
        elif char == "!":
            kind = Kind.NE if text.startswith("!=", pos) else Kind.NOT
            tokens.append(Token(kind, None, start))
            pos += 2 if kind is Kind.NE else 1
        elif char in "=&|":
            pair = char * 2
            if not text.startswith(pair, pos):
                raise SelectorError("expected '%s'" % pair, text, start)
            tokens.append(Token(_PAIRS[pair], None, start))
            pos += 2
        elif tokens and tokens[-1].kind is Kind.LABEL:
            for words, kind in _LABEL_OPERATORS:
                end = _cut_words(text, pos, words)
                if end is not None:
                    tokens.append(Token(kind, None, start))
                    pos = end
                    break
            else:
                found = _IDENT.match(text, pos).group() or text[pos]
                raise SelectorError("expected an operator (%s) after label %r, found %r" % (_OPERATOR_NAMES, tokens[-1].value, found), text, start)
        elif text.startswith("has(", pos):
            token, pos = _cut_call(text, pos, "has", Kind.HAS)
            tokens.append(token)
        elif text.startswith("all(", pos):
            token, pos = _cut_call(text, pos, "all", Kind.ALL)
            tokens.append(token)
        elif text.startswith("global(", pos):
            token, pos = _cut_call(text, pos, "global", Kind.GLOBAL)
            tokens.append(token)
        elif char in _IDENT_CHARS:
            key, pos = _cut_identifier(text, pos, _OPERAND_NAMES)
            tokens.append(Token(Kind.LABEL, key, start))
        else:
            hint = " (only spaces and tabs may separate tokens)" if char.isspace() else ""
            raise SelectorError("unexpected character %r%s" % (char, hint), text, start)
        pos = _skip_space(text, pos)
    tokens.append(Token(Kind.EOF, None, len(text)))
    return tokens


# --------------------------------------------------------------------------- AST

def _canonical_literal(value):
    """Calico's canonical quoting: double quotes unless the value holds one."""
    return "'%s'" % value if '"' in value else '"%s"' % value


class Node:
    """A selector node: ``fragment()`` is its canonical text, ``compile()`` its matcher."""

    __slots__ = ()

    def fragment(self):
        """The canonical text of this node."""
        raise NotImplementedError

    def compile(self):
        """A function ``labels -> bool`` that evaluates this node."""
        raise NotImplementedError


class AllNode(Node):
    """``all()``: matches every label set."""

    __slots__ = ()

    def fragment(self):
        return "all()"

    def compile(self):
        return lambda labels: True


class GlobalNode(Node):
    """``global()``: the non-namespaced scope marker; matches no labels."""

    __slots__ = ()

    def fragment(self):
        return "global()"

    def compile(self):
        return lambda labels: False


class HasNode(Node):
    """``has(key)``: the label is present, whatever its value."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def fragment(self):
        return "has(%s)" % self.key

    def compile(self):
        key = self.key
        return lambda labels: key in labels


class LabelValueNode(Node):
    """Base of the ``key <op> "value"`` nodes."""

    __slots__ = ("key", "value")
    OPERATOR = ""

    def __init__(self, key, value):
        self.key = key
        self.value = value

    def fragment(self):
        return "%s %s %s" % (self.key, self.OPERATOR, _canonical_literal(self.value))


class EqNode(LabelValueNode):
    """``key == "v"``: present and equal."""

    __slots__ = ()
    OPERATOR = "=="

    def compile(self):
        key, value = self.key, self.value
        return lambda labels: labels.get(key) == value


class NeNode(LabelValueNode):
    """``key != "v"``: absent, or present with another value."""

    __slots__ = ()
    OPERATOR = "!="

    def compile(self):
        key, value = self.key, self.value
        return lambda labels: labels.get(key) != value


class ContainsNode(LabelValueNode):
    """``key contains "s"``: present and holding the substring."""

    __slots__ = ()
    OPERATOR = "contains"

    def compile(self):
        key, value = self.key, self.value

        def contains(labels):
            actual = labels.get(key)
            return actual is not None and value in actual
        return contains


class StartsWithNode(LabelValueNode):
    """``key starts with "s"``: present and starting with the prefix."""

    __slots__ = ()
    OPERATOR = "starts with"

    def compile(self):
        key, value = self.key, self.value

        def starts_with(labels):
            actual = labels.get(key)
            return actual is not None and actual.startswith(value)
        return starts_with


class EndsWithNode(LabelValueNode):
    """``key ends with "s"``: present and ending with the suffix."""

    __slots__ = ()
    OPERATOR = "ends with"

    def compile(self):
        key, value = self.key, self.value

        def ends_with(labels):
            actual = labels.get(key)
            return actual is not None and actual.endswith(value)
        return ends_with


class LabelSetNode(Node):
    """Base of ``key in {...}`` / ``key not in {...}``; values are sorted and de-duplicated."""

    __slots__ = ("key", "values")
    OPERATOR = ""

    def __init__(self, key, values):
        self.key = key
        self.values = tuple(sorted(set(values)))

    def fragment(self):
        return "%s %s {%s}" % (self.key, self.OPERATOR, ", ".join(_canonical_literal(v) for v in self.values))


class InNode(LabelSetNode):
    """``key in {...}``: present with one of the values."""

    __slots__ = ()
    OPERATOR = "in"

    def compile(self):
        key, values = self.key, frozenset(self.values)
        return lambda labels: labels.get(key) in values


class NotInNode(LabelSetNode):
    """``key not in {...}``: absent, or present with none of the values."""

    __slots__ = ()
    OPERATOR = "not in"

    def compile(self):
        key, values = self.key, frozenset(self.values)
        return lambda labels: labels.get(key) not in values


class NotNode(Node):
    """``!x``."""

    __slots__ = ("operand",)

    def __init__(self, operand):
        self.operand = operand

    def fragment(self):
        return "!" + self.operand.fragment()

    def compile(self):
        operand = self.operand.compile()
        return lambda labels: not operand(labels)


class AndNode(Node):
    """``a && b && ...`` (two or more operands), written in parentheses."""

    __slots__ = ("operands",)

    def __init__(self, operands):
        self.operands = tuple(operands)

    def fragment(self):
        return "(%s)" % " && ".join(op.fragment() for op in self.operands)

    def compile(self):
        operands = tuple(op.compile() for op in self.operands)
        if len(operands) == 2:
            first, second = operands
            return lambda labels: first(labels) and second(labels)

        def all_true(labels):
            for operand in operands:
                if not operand(labels):
                    return False
            return True
        return all_true


class OrNode(Node):
    """``a || b || ...`` (two or more operands), written in parentheses."""

    __slots__ = ("operands",)

    def __init__(self, operands):
        self.operands = tuple(operands)

    def fragment(self):
        return "(%s)" % " || ".join(op.fragment() for op in self.operands)

    def compile(self):
        operands = tuple(op.compile() for op in self.operands)
        if len(operands) == 2:
            first, second = operands
            return lambda labels: first(labels) or second(labels)

        def any_true(labels):
            for operand in operands:
                if operand(labels):
                    return True
            return False
        return any_true


# --------------------------------------------------------------------------- parser

_VALUE_NODES = {Kind.EQ: EqNode, Kind.NE: NeNode, Kind.CONTAINS: ContainsNode, Kind.STARTS_WITH: StartsWithNode, Kind.ENDS_WITH: EndsWithNode}
_SET_NODES = {Kind.IN: InNode, Kind.NOT_IN: NotInNode}
_SIMPLE_NODES = {Kind.ALL: AllNode, Kind.GLOBAL: GlobalNode}


class _Parser:
    """Recursive descent: or-expression -> and-expression -> operation."""

    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def _next(self):
        token = self.tokens[self.index]
        if token.kind is not Kind.EOF:
            self.index += 1
        return token

    def _peek(self):
        return self.tokens[self.index]

    def _fail(self, expected, token):
        raise SelectorError("expected %s, found %s" % (expected, token.describe()), self.text, token.position)

    def parse_root(self):
        """The whole selector: empty means all(); anything left over is an error."""
        if self._peek().kind is Kind.EOF:
            return AllNode()
        node = self._or_expression()
        token = self._peek()
        if token.kind is Kind.RPAREN:
            raise SelectorError("unexpected ')' with no matching '('", self.text, token.position)
        if token.kind is not Kind.EOF:
            self._fail("'&&', '||' or the end of the selector", token)
        return node

    def _or_expression(self):
        operands = [self._and_expression()]
        while self._peek().kind is Kind.OR:
            self._next()
            operands.append(self._and_expression())
        return operands[0] if len(operands) == 1 else OrNode(operands)

    def _and_expression(self):
        operands = [self._operation()]
        while self._peek().kind is Kind.AND:
            self._next()
            operands.append(self._operation())
        return operands[0] if len(operands) == 1 else AndNode(operands)

    def _operation(self):
        negated = False
        while self._peek().kind is Kind.NOT:
            self._next()
            negated = not negated
        token = self._next()
        if token.kind in _SIMPLE_NODES:
            node = _SIMPLE_NODES[token.kind]()
        elif token.kind is Kind.HAS:
            node = HasNode(token.value)
        elif token.kind is Kind.LABEL:
            node = self._label_operation(token.value)
        elif token.kind is Kind.LPAREN:
            node = self._or_expression()
            closing = self._next()
            if closing.kind is not Kind.RPAREN:
                self._fail("')' to close the '(' at position %d" % token.position, closing)
        else:
            self._fail(_OPERAND_NAMES, token)
        return NotNode(node) if negated else node

    def _label_operation(self, key):
        operator = self._next()
        if operator.kind in _VALUE_NODES:
            value = self._next()
            if value.kind is not Kind.STRING:
                self._fail("a quoted string after %s" % operator.kind.value, value)
            return _VALUE_NODES[operator.kind](key, value.value)
        if operator.kind in _SET_NODES:
            brace = self._next()
            if brace.kind is not Kind.LBRACE:
                self._fail("a set literal '{...}' after %s" % operator.kind.value, brace)
            values = []
            while self._peek().kind is Kind.STRING:
                values.append(self._next().value)
                if self._peek().kind is not Kind.COMMA:
                    break
                self._next()
            closing = self._next()
            if closing.kind is not Kind.RBRACE:
                self._fail("a quoted string or '}'", closing)
            return _SET_NODES[operator.kind](key, values)
        return self._fail("an operator (%s) after label %r" % (_OPERATOR_NAMES, key), operator)


# --------------------------------------------------------------------------- Selector

class Selector:
    """A parsed, compiled selector; equal when their canonical forms are equal."""

    __slots__ = ("root", "is_global", "_text", "_hash", "_match")

    def __init__(self, root):
        self.root = root
        self.is_global = isinstance(root, GlobalNode)
        self._text = root.fragment()
        self._hash = hash(self._text)
        self._match = root.compile()

    def matches(self, labels):
        """True when the label mapping (key -> value) satisfies this selector."""
        return self._match(labels)

    def __str__(self):
        return self._text

    def __repr__(self):
        return "Selector(%r)" % self._text

    def __eq__(self, other):
        if not isinstance(other, Selector):
            return NotImplemented
        return self._text == other._text

    def __hash__(self):
        return self._hash


@functools.lru_cache(maxsize=1 << 16)
def _parse_cached(text):
    return Selector(_Parser(text).parse_root())


def parse(text):
    """Parse a Calico selector into a compiled :class:`Selector` (cached by text).

    Raises :class:`SelectorError` (a ``ValueError``) naming the offset and what was expected.
    """
    if not isinstance(text, str):
        raise TypeError("a selector must be a string, not %s" % type(text).__name__)
    return _parse_cached(text)


ALL = parse("all()")


# --------------------------------------------------------------------------- builders

def quote(value):
    """A Calico string literal for ``value``: ``'...'``, or ``"..."`` if it holds a ``'``.

    Calico strings have no escapes, so a value holding both kinds of quote cannot be
    written and raises ``ValueError``.
    """
    if not isinstance(value, str):
        raise TypeError("a selector value must be a string, not %s" % type(value).__name__)
    if "'" not in value:
        return "'%s'" % value
    if '"' not in value:
        return '"%s"' % value
    raise ValueError("value %r holds both kinds of quote and cannot be written in a selector" % value)


def _check_key(key):
    """The key, if it is a valid Kubernetes label key; else ValueError naming it."""
    validate_label_key(key)
    return key


def _check_value(key, value):
    """The value, if it is a valid Kubernetes label value; else ValueError naming the key."""
    try:
        validate_label_value(value)
    except ValueError as e:
        raise ValueError("label %r: %s" % (key, e)) from e
    return value


def eq(key, value):
    """``key == 'value'`` for a valid Kubernetes label key and label value (else ``ValueError``)."""
    return "%s == %s" % (_check_key(key), quote(_check_value(key, value)))


def in_set(key, values):
    """``key in {'a', 'b'}`` with the values sorted and de-duplicated (an empty set matches nothing)."""
    _check_key(key)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError("label %r: in_set needs a list of values, not %r" % (key, values))
    unique = sorted({_check_value(key, value) for value in values})
    return "%s in {%s}" % (key, ", ".join(quote(value) for value in unique))


def _parts(exprs):
    """Non-empty parts with their parsed form; parts may be strings or Selectors."""
    parts = []
    for expr in exprs:
        text = str(expr) if isinstance(expr, Selector) else expr
        if not isinstance(text, str):
            raise TypeError("a selector part must be a string, not %s" % type(text).__name__)
        text = text.strip(_WHITESPACE)
        if text:
            parts.append((text, parse(text).root))
    return parts


def all_of(*exprs):
    """AND of the parts: ``""`` and ``all()`` parts dropped, ``||`` parts parenthesised; none -> ``all()``."""
    parts = [(text, root) for text, root in _parts(exprs) if not isinstance(root, AllNode)]
    if not parts:
        return "all()"
    return " && ".join("(%s)" % text if isinstance(root, OrNode) else text for text, root in parts)


def any_of(*exprs):
    """OR of the parts: ``""`` parts dropped, compound parts parenthesised; none -> ``!all()`` (nothing)."""
    parts = _parts(exprs)
    if not parts:
        return "!all()"
    if len(parts) == 1:
        return parts[0][0]
    return " || ".join("(%s)" % text if isinstance(root, (AndNode, OrNode)) else text for text, root in parts)
