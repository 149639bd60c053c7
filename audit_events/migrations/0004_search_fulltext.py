"""Full-text indexes for the SQL search backend, one per database vendor."""

from django.db import migrations

SQLITE = [
    # External content: the words live in audit_search_document; FTS5 keeps the index.
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
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_search_fts_au",
    "DROP TRIGGER IF EXISTS audit_search_fts_ad",
    "DROP TRIGGER IF EXISTS audit_search_fts_ai",
    "DROP TABLE IF EXISTS audit_search_fts",
]
POSTGRES = [
    """ALTER TABLE audit_search_document
        ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
        ADD COLUMN pii_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', pii_text)) STORED""",
    "CREATE INDEX audit_search_text_tsv ON audit_search_document USING gin (text_tsv)",
    "CREATE INDEX audit_search_pii_tsv ON audit_search_document USING gin (pii_tsv)",
]
POSTGRES_REVERSE = [
    "ALTER TABLE audit_search_document DROP COLUMN IF EXISTS text_tsv, DROP COLUMN IF EXISTS pii_tsv",
]


def forwards(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}[schema_editor.connection.vendor]
    for statement in statements:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    statements = {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}[schema_editor.connection.vendor]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit_events", "0003_search_document")]
    operations = [migrations.RunPython(forwards, backwards)]
