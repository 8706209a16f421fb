"""The benchmarks: ``python -m bench`` from a source checkout (``make bench``).

Not an installed package, and not a ``crm`` command: it starts its PostgreSQL and broker
with ``tests/harness.py`` and drives ``crm serve`` and ``crm projections run`` as a
deployment would, so it needs the checkout (tests included) that ``pip install .`` leaves
out. The installed ``crm`` therefore never imports it.
"""
