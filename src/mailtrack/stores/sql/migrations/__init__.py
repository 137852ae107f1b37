"""mailtrack's schema migrations: an Alembic script directory, run by
:func:`mailtrack.stores.sql.upgrade` and ``mailtrack db upgrade``.

Adding a revision (one per schema change):

* a file ``versions/NNNN_slug.py``, ``NNNN`` one more than the newest file's, whose ``revision``
  is its file name without ``.py`` (at most 32 characters) and whose ``down_revision`` is the
  newest revision before it: the revisions form one line, and the newest file is the head;
* ``upgrade()`` with ``op`` only (no imports from mailtrack's models: a revision never changes
  once released); ``op.batch_alter_table`` for ALTERs, so that they run on SQLite too;
  ``downgrade()`` reverses it;
* the same change in ``_schema.py``'s tables: ``tests/stores/test_migrations.py`` fails while
  the models and the revisions disagree, or when the revisions have more than one head.
"""
