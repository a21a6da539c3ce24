"""The ``flow_table`` filter: flow-table text (or inline rows) to a list of flow dicts.

Documentation lives in the sidecar ``flow_table.yml``; the work is done by
``plugins/module_utils/flows.py``.
"""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows, parse_flow_text


def flow_table(data, namespace=None, identity_labels=None, source="flow_table", format=None):  # pylint: disable=redefined-builtin
    """Parse ``data`` and return one dict per row: source, destination, port, protocol, port_min, port_max."""
    try:
        if isinstance(data, str):
            flows = parse_flow_text(data, source, namespace, identity_labels, fmt=format)
        elif isinstance(data, (list, tuple)):
            flows = parse_flow_rows(data, source, namespace, identity_labels)
        else:
            raise AnsibleFilterError("flow_table: expected flow-table text or a list of {source, destination, port} mappings, got %s"
                                     % type(data).__name__)
    except InputError as err:
        raise AnsibleFilterError(str(err)) from err
    return [dict(flow.notation(identity_labels), protocol=flow.protocol, port_min=flow.port_min, port_max=flow.port_max)
            for flow in flows]


class FilterModule:
    """Flow-table filters."""

    def filters(self):
        return {"flow_table": flow_table}
