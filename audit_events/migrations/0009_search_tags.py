"""SQLite search: a ``tags`` column in the full-text index holding each document's
tenant, event type, aggregate type, classification and days (occurred and recorded)
as tokens, so FTS5 intersects them with the words (an inverted index, as OpenSearch's)
instead of the database probing every document a word matches."""

from django.db import migrations

from audit_events.search.tags import sql_tags

_OLD, _NEW = sql_tags("old"), sql_tags("new")

SQLITE = [
    "DROP TRIGGER IF EXISTS audit_search_fts_au",
    "DROP TRIGGER IF EXISTS audit_search_fts_ad",
    "DROP TRIGGER IF EXISTS audit_search_fts_ai",
    "DROP TABLE IF EXISTS audit_search_fts",
    # External content for text and pii_text; tags are computed by the triggers from the
    # document's columns (never read back, so the content table needs no such column).
    """CREATE VIRTUAL TABLE audit_search_fts USING fts5(
        text, pii_text, tags, content='audit_search_document', content_rowid='position',
        tokenize='unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER audit_search_fts_ai AFTER INSERT ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(rowid, text, pii_text, tags)
        VALUES (new.position, new.text, new.pii_text, {_NEW});
    END""",
    f"""CREATE TRIGGER audit_search_fts_ad AFTER DELETE ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(audit_search_fts, rowid, text, pii_text, tags)
        VALUES ('delete', old.position, old.text, old.pii_text, {_OLD});
    END""",
    f"""CREATE TRIGGER audit_search_fts_au AFTER UPDATE ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(audit_search_fts, rowid, text, pii_text, tags)
        VALUES ('delete', old.position, old.text, old.pii_text, {_OLD});
        INSERT INTO audit_search_fts(rowid, text, pii_text, tags)
        VALUES (new.position, new.text, new.pii_text, {_NEW});
    END""",
    f"""INSERT INTO audit_search_fts(rowid, text, pii_text, tags)
        SELECT position, text, pii_text, {sql_tags('audit_search_document')} FROM audit_search_document""",
]
SQLITE_REVERSE = SQLITE[:4] + [
    """CREATE VIRTUAL TABLE audit_search_fts USING fts5(
        text, pii_text, content='audit_search_document', content_rowid='position',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER audit_search_fts_ai AFTER INSERT ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(rowid, text, pii_text) VALUES (new.position, new.text, new.pii_text);
    END""",
    """CREATE TRIGGER audit_search_fts_ad AFTER DELETE ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(audit_search_fts, rowid, text, pii_text)
        VALUES ('delete', old.position, old.text, old.pii_text);
    END""",
    """CREATE TRIGGER audit_search_fts_au AFTER UPDATE ON audit_search_document BEGIN
        INSERT INTO audit_search_fts(audit_search_fts, rowid, text, pii_text)
        VALUES ('delete', old.position, old.text, old.pii_text);
        INSERT INTO audit_search_fts(rowid, text, pii_text) VALUES (new.position, new.text, new.pii_text);
    END""",
    "INSERT INTO audit_search_fts(audit_search_fts) VALUES ('rebuild')",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":  # PostgreSQL's GIN indexes combine by bitmap
        for statement in SQLITE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit_events", "0008_snapshot_masked_fold")]
    operations = [migrations.RunPython(forwards, backwards)]
