"""The dialect renderers: declared intent and flows -> the policy objects a cluster understands, one file per dialect
over the shared ``model``. A new dialect is one new file with ``render(intent, flows, posture)`` and one line in
``RENDERERS`` (imports stay static, so Ansible ships every renderer a module may need)."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import calico, kubernetes, kubernetes_anp, kubernetes_cnp

# dialect (microseg_dialect) -> its renderer module
RENDERERS = {"calico": calico, "kubernetes": kubernetes, "kubernetes-anp": kubernetes_anp, "kubernetes-cnp": kubernetes_cnp}
DIALECTS = tuple(RENDERERS)


def render(intent, flows, posture):
    """``(objects, losses)`` of ``intent.dialect`` for ``posture`` (failsafe or enforced): the ``model.Loss`` of every rule
    the dialect could not express exactly."""
    return RENDERERS[intent.dialect].render(intent, flows, posture)


def served_by_default(dialect, default):
    """What ``microseg_cluster_serves`` means when it is not set: a cluster serving what ``dialect`` writes (the renderer's
    ``SERVED_BY_DEFAULT``), else ``default`` (the v1alpha1 admin kinds, which come together)."""
    return tuple(getattr(RENDERERS[dialect], "SERVED_BY_DEFAULT", default))
