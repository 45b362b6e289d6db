"""A zoo of loading traps, each a user strategy with its fix and the mechanism explain names.

Every module here registers two strategies, ``trap_<name>`` (the mistake) and ``fix_<name>``
(the same page without it), and says in ``MECHANISM`` which mechanism ``ormbench explain``
must name for the trap (a ``finding`` key, docs/explain-json.md), on ``SCENARIO`` at
``PAGE_SIZE``. Try one against its fix::

    PYTHONPATH=examples ormbench explain --strategies-from traps.sort_spill \\
        --dataset ci --scenario canonical --page-size 100 \\
        --strategy trap_sort_spill --vs fix_sort_spill

``tests/test_traps.py`` holds every trap to its mechanism (and its fix to not having it).
None of these is in ormbench's own pathology catalogue (``ormbench/pathologies``).
"""

# Every trap module, in the order of a page's life (SQL, server, wire, Python).
TRAPS: tuple[str, ...] = (
    "sort_spill",
    "set_config_plan",
    "nulls_last_sort",
    "lower_count",
    "json_key_filter",
    "window_total",
    "lazy_tags",
    "lookup_per_row",
    "refresh_after_commit",
    "subquery_tags",
    "query_twice",
    "slice_in_python",
    "len_for_count",
    "uncacheable_type",
    "dispose_per_request",
    "own_engine",
    "yield_per_one",
    "deepcopy_rows",
    "validate_rows",
)
