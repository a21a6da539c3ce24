# Copyright: zerotrust.microseg developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``calico_selector`` filter: a label mapping in, a safely quoted Calico selector out.

Documentation lives in the sidecar ``calico_selector.yml``; the quoting and validation are
``plugins/module_utils/selector.py``'s (``eq``, ``in_set``, ``all_of``).
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.zerotrust.microseg.plugins.module_utils.selector import all_of, eq, in_set


def calico_selector(labels):
    """AND of ``key == 'value'`` (string) and ``key in {...}`` (list) terms, sorted by key."""
    if not isinstance(labels, Mapping):
        raise AnsibleFilterError("calico_selector: input must be a mapping of label key to value(s), not %s" % type(labels).__name__)
    if not labels:
        raise AnsibleFilterError("calico_selector: input has no labels; to select everything, write the selector all() yourself")
    terms = []
    for key in sorted(labels, key=str):
        value = labels[key]
        try:
            if isinstance(value, str):
                terms.append(eq(key, value))
            elif isinstance(value, (list, tuple)):
                if not value:
                    raise ValueError("label %r: the list of values is empty, so the term would match nothing" % (key,))
                terms.append(in_set(key, value))
            else:
                raise ValueError("label %r: value must be a string or a list of strings, not %s" % (key, type(value).__name__))
        except (TypeError, ValueError) as e:
            raise AnsibleFilterError("calico_selector: %s" % e) from e
    return all_of(*terms)


class FilterModule:
    """zerotrust.microseg selector filters."""

    def filters(self):
        """Filter name -> function."""
        return {"calico_selector": calico_selector}
