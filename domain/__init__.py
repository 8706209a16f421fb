"""The CRM's domain: aggregates, their events and the rules of the privacy policy.

Pure Python: no I/O, no web framework, no SQL. Personal values are sealed through the
small :class:`domain.sealing.Sealer` port before they enter any event.
"""
