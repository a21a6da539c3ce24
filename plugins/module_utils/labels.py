"""Kubernetes name and label validation, exactly as the API server applies it.

Every name that ends up in a generated object or selector passes through here first, so
a name can never carry selector syntax (quotes, spaces, ``(``, ``!``, ``&&``, ``,`` ...).
Each function returns None or raises ``ValueError`` with a short reason:
``'Frontend!' is not a valid label value: must be 63 characters or less, ...``.
"""
from __future__ import annotations

import re

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

_LABEL_RULE = "must be 63 characters or less, start and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
_NAMESPACE_RULE = ("must be 63 characters or less, start and end with a lower-case alphanumeric character, "
                   "and contain only lower-case alphanumerics or '-'")
_SUBDOMAIN_RULE = ("must be 253 characters or less, start and end with a lower-case alphanumeric character, "
                   "and contain only lower-case alphanumerics, '-' or '.' (with an alphanumeric on each side of every '.')")


def _fail(value, what, reason):
    raise ValueError("%r is not a valid %s: %s" % (value, what, reason))


def _check(value, what, pattern, limit, rule, allow_empty=False):
    if not isinstance(value, str):
        _fail(value, what, "must be a string, not %s" % type(value).__name__)
    if value == "" and not allow_empty:
        _fail(value, what, "must not be empty")
    if value and (len(value) > limit or not pattern.fullmatch(value)):
        _fail(value, what, rule)


def validate_namespace(name):
    """A namespace name: an RFC 1123 label (lower case, at most 63 characters)."""
    _check(name, "namespace", _DNS_LABEL, 63, _NAMESPACE_RULE)


def validate_object_name(name):
    """An object name: an RFC 1123 subdomain (lower case, at most 253 characters)."""
    _check(name, "object name", _DNS_SUBDOMAIN, 253, _SUBDOMAIN_RULE)


def validate_label_value(value):
    """A label value: empty, or at most 63 of ``[A-Za-z0-9._-]`` starting and ending alphanumeric."""
    _check(value, "label value", _QUALIFIED, 63, _LABEL_RULE, allow_empty=True)


def validate_label_key(key):
    """A label key: an optional DNS-subdomain prefix (at most 253) and ``/``, then a name like a label value."""
    if not isinstance(key, str):
        _fail(key, "label key", "must be a string, not %s" % type(key).__name__)
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        _fail(key, "label key", "may contain at most one '/'")
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        _fail(key, "label key", "prefix before '/' " + _SUBDOMAIN_RULE)
    where = "name after '/' " if slash else ""
    if not name:
        _fail(key, "label key", where + "must not be empty")
    if len(name) > 63 or not _QUALIFIED.fullmatch(name):
        _fail(key, "label key", where + _LABEL_RULE)
