"""Ticket queue indexes: one covering index of the queue's filters, one per sort order, and
prefix-searchable email and receipt indexes on PostgreSQL.

Revision ID: tickets_01
Revises: 0001
Create Date: 2026-11-22 11:13:42.653725

"""
from alembic import op
import sqlalchemy as sa

import portal.types  # noqa: F401  (custom column types used by autogenerate)


# revision identifiers, used by Alembic.
revision = 'tickets_01'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_filters', ['linked_account_id', 'status', 'ticket_type', 'product_type', 'next_action_at', 'closed_at'], unique=False)
        batch_op.create_index('ix_tickets_timed', ['next_action_at', 'id', 'linked_account_id', 'status', 'ticket_type', 'product_type'], unique=False, sqlite_where=sa.text('next_action_at IS NOT NULL'), postgresql_where=sa.text('next_action_at IS NOT NULL'))
        batch_op.create_index('ix_tickets_closed', ['closed_at', 'id', 'linked_account_id', 'status', 'ticket_type', 'product_type'], unique=False, sqlite_where=sa.text('closed_at IS NOT NULL'), postgresql_where=sa.text('closed_at IS NOT NULL'))
    if op.get_bind().dialect.name == 'postgresql':
        # LIKE 'prefix%' can use a text_pattern_ops index under any collation.
        for name, column in (('ix_tickets_email', 'customer_email'), ('ix_tickets_receipt', 'receipt')):
            op.drop_index(name, table_name='tickets')
            op.create_index(name, 'tickets', [column], unique=False, postgresql_ops={column: 'text_pattern_ops'})


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name, column in (('ix_tickets_email', 'customer_email'), ('ix_tickets_receipt', 'receipt')):
            op.drop_index(name, table_name='tickets')
            op.create_index(name, 'tickets', [column], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_closed', sqlite_where=sa.text('closed_at IS NOT NULL'), postgresql_where=sa.text('closed_at IS NOT NULL'))
        batch_op.drop_index('ix_tickets_timed', sqlite_where=sa.text('next_action_at IS NOT NULL'), postgresql_where=sa.text('next_action_at IS NOT NULL'))
        batch_op.drop_index('ix_tickets_filters')
