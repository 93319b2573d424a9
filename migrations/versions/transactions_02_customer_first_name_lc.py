"""customer_first_name_lc: find a customer by first name alone, or by both names, through indexes

Revision ID: transactions_02
Revises: reports_01
Create Date: 2026-11-22 16:40:00

The column is added with an empty default, filled from ``customer_first_name`` (lower-cased as
Python does it, the way ``transactions.services.record`` fills it for new rows), then indexed:
alone (a first name), and after the last name (replacing the last-name index: "Maria Garcia"
reads only the index).
On SQLite the existing rows are lower-cased by a Python function registered on the connection
(SQLite's own lower() folds only ASCII: "Élodie" would stay "Élodie"); on PostgreSQL lower()
does the ASCII names and the few distinct names with other letters are lower-cased in Python
(lower() under the C locale folds only ASCII too).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'transactions_02'
down_revision = 'guard_01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('customer_first_name_lc', sa.String(length=80), server_default='', nullable=False)
        )
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        raw = bind.connection.driver_connection
        raw.create_function('portal_lower', 1, lambda v: v.lower() if isinstance(v, str) else '',
                            deterministic=True)
        op.execute("UPDATE transactions SET customer_first_name_lc = portal_lower(customer_first_name) "
                   "WHERE customer_first_name != ''")
    else:
        op.execute("UPDATE transactions SET customer_first_name_lc = lower(customer_first_name) "
                   "WHERE customer_first_name != ''")
        # lower() folds only ASCII under the C locale: names with other letters are lower-cased
        # here, one joined UPDATE per thousand distinct names.
        names = bind.execute(sa.text(
            "SELECT DISTINCT customer_first_name FROM transactions "
            "WHERE customer_first_name ~ '[^[:ascii:]]'")).scalars().all()
        for start in range(0, len(names), 1000):
            chunk = names[start:start + 1000]
            values = ", ".join(f"(:n{i}, :l{i})" for i in range(len(chunk)))
            params = {f"n{i}": n for i, n in enumerate(chunk)}
            params.update({f"l{i}": n.lower() for i, n in enumerate(chunk)})
            bind.execute(sa.text(
                "UPDATE transactions AS t SET customer_first_name_lc = v.lc "
                f"FROM (VALUES {values}) AS v(name, lc) WHERE t.customer_first_name = v.name"), params)
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_first_name', ['customer_first_name_lc'], unique=False,
                              postgresql_ops={'customer_first_name_lc': 'text_pattern_ops'})
        batch_op.drop_index('ix_transactions_last_name')
        batch_op.create_index('ix_transactions_name', ['customer_last_name_lc', 'customer_first_name_lc'],
                              unique=False,
                              postgresql_ops={'customer_last_name_lc': 'text_pattern_ops',
                                              'customer_first_name_lc': 'text_pattern_ops'})


def downgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_name')
        batch_op.create_index('ix_transactions_last_name', ['customer_last_name_lc'], unique=False)
        batch_op.drop_index('ix_transactions_first_name')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('customer_first_name_lc')
