"""customer_first_name_lc: find a customer by first name alone, through an index

Revision ID: transactions_02
Revises: reports_01
Create Date: 2026-11-22 16:40:00

The column is added with an empty default, filled from ``customer_first_name`` (lower-cased as
Python does it, the way ``transactions.services.record`` fills it for new rows), then indexed.
On SQLite the existing rows are lower-cased by a Python function registered on the connection
(SQLite's own lower() folds only ASCII: "Élodie" would stay "Élodie"); PostgreSQL's lower()
folds every letter of the database's encoding.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'transactions_02'
down_revision = 'reports_01'
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
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_first_name', ['customer_first_name_lc'], unique=False,
                              postgresql_ops={'customer_first_name_lc': 'text_pattern_ops'})


def downgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_first_name')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_column('customer_first_name_lc')
