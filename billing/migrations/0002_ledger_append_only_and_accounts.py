from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION billing_ledger_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing_ledgerentry is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_ledger_entry_no_update
    BEFORE UPDATE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_entry_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS billing_ledger_entry_no_update ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_entry_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER billing_ledger_entry_no_update
BEFORE UPDATE ON billing_ledgerentry
BEGIN
    SELECT RAISE(ABORT, 'billing_ledgerentry is append-only: UPDATE refused');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS billing_ledger_entry_no_update;"


def forbid_ledger_updates(apps, schema_editor):
    # Deletes stay possible at the database level only so that test databases can be
    # flushed; the application refuses them (LedgerEntry.delete and its queryset).
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def allow_ledger_updates(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


def open_accounts_for_existing_users(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    CreditAccount = apps.get_model("billing", "CreditAccount")
    CreditAccount.objects.bulk_create(
        [CreditAccount(user=user) for user in User.objects.filter(credit_account__isnull=True)]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forbid_ledger_updates, allow_ledger_updates),
        migrations.RunPython(open_accounts_for_existing_users, migrations.RunPython.noop),
    ]
