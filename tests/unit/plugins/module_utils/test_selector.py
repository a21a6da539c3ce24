"""Calico selector language: truth tables, bad selectors, canonical forms and safe quoting."""

import itertools

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import selector
from ansible_collections.zerotrust.microseg.plugins.module_utils.selector import (
    ALL, Selector, SelectorError, all_of, any_of, eq, in_set, parse, quote,
)

# (selector, label sets that match, label sets that do not) -- Calico's parser_test shape.
TRUTH = [
    ('a == "b"', [{"a": "b"}, {"a": "b", "c": "d"}], [{}, {"a": "c"}, {"c": "d"}, {"a": "B"}, {"a": "b "}]),
    ("a == 'b'", [{"a": "b"}], [{}, {"a": "bb"}]),
    ("a == ''", [{"a": ""}], [{}, {"a": "x"}]),
    ('a != "b"', [{}, {"a": "c"}, {"c": "b"}], [{"a": "b"}]),
    ("a contains 'ell'", [{"a": "hello"}, {"a": "ell"}], [{}, {"a": "hel"}, {"b": "hello"}]),
    ("a contains ''", [{"a": ""}, {"a": "x"}], [{}]),
    ("a starts with 'fr'", [{"a": "frontend"}, {"a": "fr"}], [{}, {"a": "xfr"}, {"b": "fr"}]),
    ("a ends with 'end'", [{"a": "frontend"}, {"a": "end"}], [{}, {"a": "endx"}, {"b": "end"}]),
    ("a startswith 'x'", [{"a": "xy"}], [{"a": "yx"}]),
    ("a endswith 'x'", [{"a": "yx"}], [{"a": "xy"}]),
    ("a in {'x', 'y'}", [{"a": "x"}, {"a": "y"}], [{}, {"a": "z"}, {"b": "x"}]),
    ("a in {}", [], [{}, {"a": ""}, {"a": "x"}]),
    ("a in {'x',}", [{"a": "x"}], [{"a": ","}]),
    ("a not in {'x', 'y'}", [{}, {"a": "z"}, {"b": "x"}], [{"a": "x"}, {"a": "y"}]),
    ("a notin {'x'}", [{}, {"a": "z"}], [{"a": "x"}]),
    ("a not in {}", [{}, {"a": "x"}], []),
    ("a in {\"'\", '\"', 'c'}", [{"a": "'"}, {"a": '"'}, {"a": "c"}], [{}, {"a": "e"}]),
    ("has(a)", [{"a": ""}, {"a": "x"}], [{}, {"b": "a"}]),
    ("!has(a)", [{}, {"b": "a"}], [{"a": ""}]),
    ("! has( a )", [{}], [{"a": "x"}]),
    ("!!has(a)", [{"a": "x"}], [{}]),
    ("!!!has(a)", [{}], [{"a": "x"}]),
    ("! !! has(a)", [{}], [{"a": "x"}]),
    ("all()", [{}, {"a": "b"}], []),
    ("", [{}, {"a": "b"}], []),
    (" \t ", [{}, {"a": "b"}], []),
    ("!all()", [], [{}, {"a": "b"}]),
    ("global()", [], [{}, {"a": "b"}]),
    # "!" binds to the whole match: !a == 'x' is !(a == 'x'), so it matches when a is absent.
    ("!a == 'x'", [{}, {"a": "y"}], [{"a": "x"}]),
    ("!a in {'x'}", [{}, {"a": "y"}], [{"a": "x"}]),
    ("a == 'x' && b == 'y'", [{"a": "x", "b": "y"}], [{}, {"a": "x"}, {"b": "y"}, {"a": "x", "b": "z"}]),
    ("a == 'x' || b == 'y'", [{"a": "x"}, {"b": "y"}, {"a": "x", "b": "y"}], [{}, {"a": "y", "b": "x"}]),
    ("a == 'x' || b == 'y' && c == 'z'", [{"a": "x"}, {"b": "y", "c": "z"}], [{"b": "y"}, {"c": "z"}]),
    ("(a == 'x' || b == 'y') && c == 'z'", [{"a": "x", "c": "z"}, {"b": "y", "c": "z"}], [{"a": "x"}, {"b": "y"}, {"c": "z"}]),
    ("!(a == 'x' || b == 'y')", [{}, {"a": "y"}], [{"a": "x"}, {"b": "y"}]),
    ("!has(a) && has(b)", [{"b": ""}], [{}, {"a": "", "b": ""}]),
    ("!(!has(a) || has(b))", [{"a": "a"}], [{}, {"a": "a", "b": "b"}]),
    ("a != 'x' && b != 'y'", [{}, {"a": "y", "b": "x"}], [{"a": "x"}, {"b": "y"}]),
    ("!a == 'x' || !b == 'y'", [{}, {"a": "x"}], [{"a": "x", "b": "y"}]),
    ("a == 'x' && b == 'y' && c == 'z'", [{"a": "x", "b": "y", "c": "z"}], [{"a": "x", "b": "y"}]),
    ("a == 'x' || b == 'y' || c == 'z'", [{"c": "z"}], [{"d": "z"}]),
    ("((a == 'x'))", [{"a": "x"}], [{}]),
    ("a==\"b\"&&c!='d'", [{"a": "b"}], [{"a": "b", "c": "d"}]),
    ("contains contains 'contains'", [{"contains": "xcontainsx"}], [{"contains": "c"}]),
    ("in in {'in'}", [{"in": "in"}], [{"in": "on"}]),
    ("projectcalico.org/name == 'kube-system'", [{"projectcalico.org/name": "kube-system"}], [{"name": "kube-system"}]),
    ("app.kubernetes.io/name in {'a'} && k8s-app == 'dns'", [{"app.kubernetes.io/name": "a", "k8s-app": "dns"}], [{"k8s-app": "dns"}]),
    ("a == 'x' && global()", [], [{"a": "x"}]),
    ("a == 'x' || global()", [{"a": "x"}], [{}]),
]

# Calico refuses these; the comment says why.
BAD = [
    ("b == b", 5, "quoted string"),               # unquoted value
    ("b contains b", 11, "quoted string"),
    ("b starts with b", 14, "quoted string"),
    ("b ends with b", 12, "quoted string"),
    ("'b1' == b", 0, "expected a label"),          # literal on the left
    ("b", 1, "expected an operator"),               # bare label
    ("a ", 2, "expected an operator"),
    ("a b", 2, "expected an operator"),
    ("a inx {'b'}", 2, "expected an operator"),     # keyword needs a word boundary
    ("a starts foo 'b'", 2, "expected an operator"),
    ("a = 'b'", 2, "expected '=='"),
    ("!", 1, "expected a label"),
    ("a == 'b' &", 9, "expected '&&'"),
    ("a == 'b' |", 9, "expected '||'"),
    ("a == 'b' &&", 11, "found end of selector"),
    ("a == 'b' ||", 11, "found end of selector"),
    ("a != ||", 5, "quoted string"),
    ("a in {'', ||", 10, "'}'"),
    ("a in {,}", 6, "'}'"),
    ("a in {'x' 'y'}", 10, "'}'"),
    ("a in 'x'", 5, "set literal"),
    ("a in ('x')", 5, "set literal"),
    ('"FOO', 0, "unterminated string"),
    ("\"FOO'", 0, "unterminated string"),
    ("'FOO", 0, "unterminated string"),
    ("a == 'x", 5, "unterminated string"),
    ("(", 1, "expected a label"),
    ("(a == 'x'", 9, "expected ')'"),
    ("((a == 'x')", 11, "expected ')'"),
    (")", 0, "expected a label"),
    ("a == 'x')", 8, "no matching '('"),
    ("()", 1, "expected a label"),
    ("%", 0, "unexpected character '%'"),
    ("a == 'b' && %", 12, "unexpected character"),
    ("a == 'b' || %", 12, "unexpected character"),
    ("a == 'b' c == 'd'", 9, "expected '&&', '||' or the end"),
    ("has(foo) has(bar)", 9, "expected '&&', '||' or the end"),
    ("has(a", 5, "expected ')' to close has("),
    ("has()", 4, "label key inside has("),
    ("has (a)", 4, "expected an operator"),
    ("has('a')", 4, "label key inside has("),
    ("all(x)", 4, "expected ')' to close all("),
    ("global(", 7, "expected ')' to close global("),
    ("a == 'b'\n", 8, "unexpected character '\\n'"),   # only spaces and tabs are whitespace
    ("a ==\n'b'", 4, "unexpected character"),
    ("a\u00e9 == 'b'", 1, "expected an operator"),      # label keys are ASCII
    ("x" * 513 + " == 'b'", 0, "longer than 512"),
]

# input, Calico's canonical form.
CANONICAL = [
    ("", "all()"),
    (" all() ", "all()"),
    (" (all() )", "all()"),
    ("a == 'b'", 'a == "b"'),
    ("a=='b'", 'a == "b"'),
    ("a == \"'\"", "a == \"'\""),
    ("a == '\"'", "a == '\"'"),
    ("a contains '\"'", "a contains '\"'"),
    ("a startswith 'x'", 'a starts with "x"'),
    ("a ends   with 'x'", 'a ends with "x"'),
    ("a!='\"'", "a != '\"'"),
    ("a notin {}", "a not in {}"),
    ("a in {'d', 'a', 'b', 'a',}", 'a in {"a", "b", "d"}'),
    ("a in {'\"', \"'\"}", "a in {'\"', \"'\"}"),
    ("!!has(a)", "has(a)"),
    ("!!!has(a)", "!has(a)"),
    ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
    ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'),
    ("a == 'x' && b == 'y'", '(a == "x" && b == "y")'),
    ("a == 'x' || b == 'y' && c == 'z'", '(a == "x" || (b == "y" && c == "z"))'),
    ("(a == 'x' && b == 'y') && c == 'z'", '((a == "x" && b == "y") && c == "z")'),
    ("!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))", '!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})'),
    ("\tglobal()\t", "global()"),
]


def _as_params(rows):
    return [pytest.param(sel, match, miss, id=repr(sel)) for sel, match, miss in rows]


@pytest.mark.parametrize("text, matching, non_matching", _as_params(TRUTH))
def test_truth_table(text, matching, non_matching):
    sel = parse(text)
    for labels in matching:
        assert sel.matches(labels), "%r should match %r" % (text, labels)
    for labels in non_matching:
        assert not sel.matches(labels), "%r should not match %r" % (text, labels)


@pytest.mark.parametrize("text, matching, non_matching", _as_params(TRUTH))
def test_truth_table_survives_canonicalising(text, matching, non_matching):
    sel = parse(str(parse(text)))
    assert [sel.matches(labels) for labels in matching] == [True] * len(matching)
    assert [sel.matches(labels) for labels in non_matching] == [False] * len(non_matching)


@pytest.mark.parametrize("text, position, expected", BAD, ids=[repr(row[0][:40]) for row in BAD])
def test_bad_selector(text, position, expected):
    with pytest.raises(SelectorError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position, str(err)
    assert expected in err.reason, str(err)
    assert err.text == text
    assert "position %d" % position in str(err)


def test_error_message_names_position_and_expectation():
    with pytest.raises(SelectorError) as info:
        parse("app == frontend")
    assert str(info.value) == "selector 'app == frontend', position 7: expected a quoted string after '==', found label 'frontend'"
    with pytest.raises(SelectorError) as info:
        parse("(app == 'x' && has(y)")
    assert str(info.value) == "selector \"(app == 'x' && has(y)\", position 21: expected ')' to close the '(' at position 0, found end of selector"


@pytest.mark.parametrize("text, canonical", CANONICAL, ids=[repr(row[0]) for row in CANONICAL])
def test_canonical_form_round_trips(text, canonical):
    sel = parse(text)
    assert str(sel) == canonical
    again = parse(canonical)
    assert str(again) == canonical
    assert again == sel
    assert hash(again) == hash(sel)


def test_equal_selectors_compare_and_hash_equal():
    spellings = ["a == 'x' && b in {'q', 'p'}", 'a=="x"&&b in {"p","q","p"}', "(a == 'x') && (b in {'p', 'q'})"]
    selectors = [parse(text) for text in spellings]
    assert len(set(selectors)) == 1
    assert selectors[0] != parse("b in {'p', 'q'} && a == 'x'")   # order matters, as in Calico
    assert selectors[0] != "a == 'x'"
    assert repr(parse("a == 'x'")) == "Selector('a == \"x\"')"


def test_label_key_limit_is_512():
    assert parse("k" * 512 + " == 'v'").matches({"k" * 512: "v"})
    assert parse("has(%s)" % ("k" * 512)).matches({"k" * 512: ""})


def test_is_global_and_all():
    assert parse("global()").is_global
    assert parse(" ( global() ) ").is_global
    assert not parse("global() || a == 'b'").is_global
    assert not parse("!global()").is_global
    assert not parse("all()").is_global
    assert ALL == parse("") == parse("all()")
    assert isinstance(ALL, Selector) and not ALL.is_global


def test_parse_is_cached_and_typed():
    assert parse("a == 'b'") is parse("a == 'b'")
    with pytest.raises(TypeError):
        parse(None)


def test_matches_any_mapping():
    class Labels(dict):
        pass
    assert parse("a in {'x'} && has(b)").matches(Labels(a="x", b="y"))


# ---------------------------------------------------------------- builders


@pytest.mark.parametrize("value, literal", [
    ("plain", "'plain'"),
    ("", "''"),
    ("it's", '"it\'s"'),
    ('say "hi"', "'say \"hi\"'"),
    ("x' || all() || 'y", "\"x' || all() || 'y\""),
])
def test_quote(value, literal):
    assert quote(value) == literal
    assert parse("k == %s" % literal).matches({"k": value})


def test_quote_refuses_both_quotes_and_non_strings():
    with pytest.raises(ValueError, match="both kinds of quote"):
        quote("a'b\"c")
    with pytest.raises(TypeError):
        quote(1)


def test_eq_and_in_set():
    assert eq("app", "frontend") == "app == 'frontend'"
    assert eq("app.kubernetes.io/name", "cart-service_v1.2") == "app.kubernetes.io/name == 'cart-service_v1.2'"
    assert eq("tier", "") == "tier == ''"
    long_prefix = ".".join(["a" * 63] * 3) + "." + "b" * 61   # 253 characters: the longest prefix
    assert eq(long_prefix + "/" + "n" * 63, "v" * 63) == "%s/%s == '%s'" % (long_prefix, "n" * 63, "v" * 63)
    assert in_set("zone", ["trusted", "dmz", "trusted"]) == "zone in {'dmz', 'trusted'}"
    assert in_set("zone", ("a",)) == "zone in {'a'}"
    assert in_set("zone", []) == "zone in {}"


@pytest.mark.parametrize("key", [
    "", "-app", "app-", "App/x", "a b", "a'b", "a==b", "x" * 64, ".".join(["a" * 63] * 4) + "/b", "Example.com/b", "example.com/", "/name",
    "a/b/c", "has(x)", "app\n", "ä",
])
def test_eq_refuses_bad_keys(key):
    with pytest.raises(ValueError, match="is not a valid label key"):
        eq(key, "v")
    with pytest.raises(ValueError, match="is not a valid label key"):
        in_set(key, ["v"])


@pytest.mark.parametrize("value", ["-v", "v-", "a b", "x" * 64, "v\n", "a'b", 'a"b', "a,b", "{a}", "ä", 7, None])
def test_eq_refuses_bad_values(value):
    with pytest.raises(ValueError, match="label 'k': .* is not a valid label value"):
        eq("k", value)
    with pytest.raises(ValueError, match="label 'k': .* is not a valid label value"):
        in_set("k", ["ok", value])


def test_in_set_wants_a_collection():
    with pytest.raises(ValueError, match="needs a list"):
        in_set("zone", "dmz")


HOSTILE = [
    "x' || all() || 'y", 'x" || all() || "y', "x') || (all() || ('y", "' || has(a) || '", "a'", "'", '"', "''",
    "x == 'y'", "x}", "{", ",", "'x', 'y'", "all()", "x\n", "x\t", "\x00", "x' && !has(k) || 'y", "\\'", "a b",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_cannot_escape_quoting(value):
    """Either the builder refuses the value, or the selector matches {k: value} and nothing else."""
    for build in (lambda: eq("k", value), lambda: in_set("k", [value])):
        try:
            text = build()
        except ValueError:
            continue
        sel = parse(text)
        assert sel.matches({"k": value})
        for other in [{}, {"k": "y"}, {"k": value + "x"}, {"a": value}, {"k": "x"}]:
            assert not sel.matches(other), (text, other)
    # quote() itself: the literal always reads back as exactly the value, or is refused.
    try:
        literal = quote(value)
    except ValueError:
        assert "'" in value and '"' in value
        return
    sel = parse("k == %s" % literal)
    assert sel.matches({"k": value}) and not sel.matches({"k": value + "x"})


def test_all_of():
    assert all_of() == "all()"
    assert all_of("", " ", "all()") == "all()"
    assert all_of("a == 'x'") == "a == 'x'"
    assert all_of("a == 'x'", "", "b in {'p'}") == "a == 'x' && b in {'p'}"
    assert all_of("a == 'x' || b == 'y'", "c == 'z'") == "(a == 'x' || b == 'y') && c == 'z'"
    assert all_of("a == 'x' && b == 'y'", "c == 'z'") == "a == 'x' && b == 'y' && c == 'z'"
    assert all_of(parse("a == 'x'"), "has(b)") == 'a == "x" && has(b)'
    assert all_of("global()", "a == 'x'") == "global() && a == 'x'"


def test_any_of():
    assert any_of() == "!all()"
    assert not parse(any_of()).matches({})
    assert any_of("", "a == 'x'") == "a == 'x'"
    assert any_of("a == 'x'", "b == 'y'") == "a == 'x' || b == 'y'"
    assert any_of("a == 'x' && b == 'y'", "c == 'z'") == "(a == 'x' && b == 'y') || c == 'z'"
    assert any_of("a == 'x' || b == 'y'", "!has(c)") == "(a == 'x' || b == 'y') || !has(c)"


def test_combinators_refuse_broken_parts():
    with pytest.raises(SelectorError):
        all_of("a == 'x", "b == 'y'")
    with pytest.raises(SelectorError):
        any_of("a == 'x'", "b ==")
    with pytest.raises(TypeError):
        all_of(None)


TERMS = ["a == 'x'", "b != 'y'", "has(c)", "a in {'x', 'z'}", "a == 'x' || b == 'y'", "!has(a) && c == 'z'"]
LABEL_SETS = [dict(zip("abc", values)) for values in itertools.product(["x", "y", "z"], repeat=3)] + [{}, {"a": "x"}, {"c": "z"}]


@pytest.mark.parametrize("left, right", list(itertools.combinations(TERMS, 2)))
def test_combinators_mean_and_and_or(left, right):
    both, either = parse(all_of(left, right)), parse(any_of(left, right))
    first, second = parse(left), parse(right)
    for labels in LABEL_SETS:
        assert both.matches(labels) == (first.matches(labels) and second.matches(labels))
        assert either.matches(labels) == (first.matches(labels) or second.matches(labels))


def test_core_does_not_import_ansible():
    with open(selector.__file__, encoding="utf-8") as handle:
        source = handle.read()
    assert "import ansible" not in source and "from ansible " not in source
