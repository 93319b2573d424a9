"""The OpenAPI 3.1 document of the API, written by hand (``/api/v1/openapi.json``, public).
``tests/api/test_openapi.py`` checks that every route under /api/v1 is described here."""
from __future__ import annotations

from flask import jsonify

from portal.api import bp
from portal.api.auth import public

VERSION = "1.0.0"
TYPES = ["tech_support", "refund", "cancel"]
FIELDS = ["auto", "receipt", "email", "name"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _error("No key, an invalid, revoked or unusable key, or a key outside the header"),
    "429": _error("Too many requests"),
}
READ_ERRORS = {**ERRORS, "422": _error("A parameter is not valid (see error.fields)")}
WRITE_ERRORS = {
    **ERRORS,
    "400": _error("The body is not a JSON object, or a bad Idempotency-Key"),
    "403": _error("A Read-only key, or the user may not do this to this ticket"),
    "404": _error("No such ticket, or not visible to this key"),
    "409": _error("The ticket changed since `version` (error.ticket is its current state)"),
    "415": _error("The body is not application/json"),
    "422": _error("A rule refuses the action (error.code says which), or the body is not valid"),
}

NUMBER = {
    "name": "number", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    "description": "The ticket number.",
}
IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[\\x21-\\x7e]+$"},
    "description": "Retrying with the same key (same user, same request) within 24 hours replays "
    "the first answer (header Idempotent-Replayed: true) instead of acting again.",
}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


CURSOR = _query("cursor", {"type": "string", "maxLength": 120},
                "next_cursor of the previous page (keyset pagination).")
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
               "Page size.")


def _action(summary: str, body: dict, required: list[str], ok: str, status: str = "200") -> dict:
    return {
        "post": {
            "summary": summary,
            "tags": ["tickets"],
            "parameters": [NUMBER, IDEMPOTENCY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {
                    "type": "object", "required": required, "properties": body,
                    "description": "Other members are ignored.",
                }}},
            },
            "responses": {status: _json(_ref("TicketChange"), ok), **WRITE_ERRORS},
        }
    }


COMMENT = {"type": "string", "minLength": 6, "maxLength": 5000,
           "description": "At least 6 characters (every action needs one)."}
VERSION_FIELD = {"type": "integer", "minimum": 1,
                 "description": "The ticket version you saw; a changed ticket answers 409."}
AGREED = {"type": "boolean", "default": False,
          "description": "The customer agreed (needed to close or change a customer's refund or "
          "cancellation request)."}
TIME = {"type": ["string", "null"], "format": "date-time"}
NULL_STRING = {"type": ["string", "null"]}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable."},
                "message": {"type": "string", "description": "For people."},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "ticket": {"oneOf": [_ref("Ticket"), {"type": "null"}]},
            },
        }},
    },
    "AccountRef": {"type": "object", "properties": {
        "id": {"type": "integer"}, "nickname": NULL_STRING}},
    "Account": {"type": "object", "properties": {
        "id": {"type": "integer"}, "nickname": {"type": "string"},
        "source": {"type": "string", "enum": ["sandbox", "clickbank"]},
        "status": {"type": "string", "enum": ["linked", "removed"]},
        "timezone": {"type": "string"}, "colour": {"type": "string"}}},
    "Me": {"type": "object", "properties": {
        "user": {"type": "object"},
        "permissions": {"type": "array", "items": {"type": "string", "enum": [
            "orders_tickets", "search_orders", "api_read", "api_write", "manage_users",
            "refund_authority"]}},
        "access": {"type": "string", "enum": ["read", "read_write"]},
        "accounts": {"type": "array", "items": {"type": "object"}},
        "key": {"type": "object"}}},
    "Ticket": {"type": "object", "properties": {
        "number": {"type": "integer"},
        "status": {"type": "string", "enum": ["open", "reopened", "closed"]},
        "type": {"type": "string", "enum": ["tech_support", "refund", "cancel"]},
        "refund_state": {"type": ["string", "null"],
                         "enum": ["requested", "processing", "finalized", "withdrawn", None]},
        "source": {"type": "string"}, "locale": {"type": "string"},
        "account": _ref("AccountRef"), "receipt": {"type": "string"},
        "transaction_id": {"type": "integer"},
        "product_type": {"type": "string", "enum": ["standard", "recurring"]},
        "amount_cents": {"type": "integer"}, "currency": {"type": "string"},
        "customer": {"type": "object"},
        "opened_at": TIME, "updated_at": TIME, "closed_at": TIME,
        "expires_at": {**TIME, "description": "When the ticket's next automatic action is due."},
        "next_action": NULL_STRING, "escalated": {"type": "boolean"},
        "return_status": NULL_STRING, "version": {"type": "integer"}, "url": {"type": "string"}}},
    "Event": {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": TIME, "kind": {"type": "string"},
        "actor": {"type": "object", "properties": {"kind": {"type": "string"},
                                                   "name": {"type": "string"}}},
        "type": {"type": "string"}, "from": NULL_STRING, "to": NULL_STRING,
        "comment": NULL_STRING, "customer_agreed": {"type": "boolean"}}},
    "TicketDetail": {"allOf": [_ref("Ticket"), {"type": "object", "properties": {
        "description": {"type": "string"}, "order": {"type": "object"},
        "events": {"type": "array", "items": _ref("Event")},
        "actions": {"type": "object", "description": "What this key may do now."}}}]},
    "TicketChange": {"type": "object", "properties": {
        "ticket": _ref("TicketDetail"), "event": {"oneOf": [_ref("Event"), {"type": "null"}]}}},
    "TicketPage": {"type": "object", "properties": {
        "tickets": {"type": "array", "items": _ref("Ticket")},
        "total": {"type": "integer"}, "total_capped": {"type": "boolean"},
        "next_cursor": NULL_STRING, "next": NULL_STRING}},
    "Transaction": {"type": "object", "properties": {
        "id": {"type": "integer"}, "receipt": {"type": "string"},
        "sale_receipt": {"type": "string"}, "type": {"type": "string"},
        "is_test": {"type": "boolean"}, "occurred_at": TIME, "account": _ref("AccountRef"),
        "amount_cents": {"type": "integer"}, "shipping_cents": {"type": "integer"},
        "tax_cents": {"type": "integer"}, "currency": {"type": "string"},
        "customer": {"type": "object"}, "product": {"type": "object"},
        "quantity": {"type": "integer"}, "affiliate": NULL_STRING,
        "payment_method": NULL_STRING, "url": {"type": "string"}}},
    "TransactionDetail": {"allOf": [_ref("Transaction"), {"type": "object", "properties": {
        "line_items": {"type": "array", "items": {"type": "object"}},
        "order": {"type": "array", "items": {"type": "object"}},
        "tickets": {"type": "array", "items": {"type": "object"}},
        "subscription": {"type": ["object", "null"]}}}]},
    "TransactionPage": {"type": "object", "properties": {
        "transactions": {"type": "array", "items": _ref("Transaction")},
        "next_cursor": NULL_STRING, "next": NULL_STRING,
        "scope": {"type": "string", "enum": ["all", "ticket_tied"]}}},
}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Master Account Portal API",
            "version": VERSION,
            "description": (
                "Tickets and transactions of the linked accounts the key's user may see. Send "
                "the key in the X-API-Key header (never in the URL). API Read keys read; API "
                "Read/Write keys also work tickets. Every error is "
                '{"error": {"code": "...", "message": "..."}}.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"ApiKey": []}],
        "tags": [{"name": "account"}, {"name": "tickets"}, {"name": "transactions"}],
        "paths": {
            "/me": {"get": {"summary": "The key's user, permissions and accounts",
                            "tags": ["account"],
                            "responses": {"200": _json(_ref("Me")), **ERRORS}}},
            "/accounts": {"get": {"summary": "Linked accounts the key reaches", "tags": ["account"],
                                  "responses": {"200": _json({"type": "object", "properties": {
                                      "accounts": {"type": "array", "items": _ref("Account")}}}),
                                      **ERRORS}}},
            "/tickets": {
                "get": {
                    "summary": "The ticket queue (filters of the Tickets tab)",
                    "tags": ["tickets"],
                    "parameters": [
                        _query("type", {"type": "string", "enum": TYPES}, "Ticket type."),
                        _query("product", {"type": "string", "enum": ["standard", "recurring"]},
                               "Product type (both when absent)."),
                        _query("status", {"type": "string"},
                               "open, reopened, closed (repeat or comma-separate; 'any' for all). "
                               "Default: open,reopened."),
                        _query("vendor", {"type": "string"}, "One linked account, by nickname."),
                        _query("q", {"type": "string", "maxLength": 254},
                               "Customer email, ticket number or receipt (or their beginning)."),
                        _query("sort", {"type": "string", "enum": ["expiration", "closed"]},
                               "Order."),
                        CURSOR, LIMIT,
                    ],
                    "responses": {"200": _json(_ref("TicketPage")), **READ_ERRORS},
                },
                "post": {
                    "summary": "Open a ticket on a sale",
                    "tags": ["tickets"],
                    "parameters": [IDEMPOTENCY],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["transaction", "comment"],
                        "properties": {
                            "transaction": {"type": ["integer", "string"],
                                            "description": "Transaction id or receipt."},
                            "type": {"type": "string", "enum": ["tech_support", "refund", "cancel"],
                                     "default": "tech_support",
                                     "description": "refund and cancel need Refund authority."},
                            "comment": COMMENT,
                            "escalate": {"type": "boolean", "default": False},
                        }}}}},
                    "responses": {"201": _json({"type": "object", "properties": {
                        "ticket": _ref("TicketDetail")}}, "Opened"), **WRITE_ERRORS},
                },
            },
            "/tickets/{number}": {"get": {
                "summary": "One ticket: fields, order, history, possible actions",
                "tags": ["tickets"], "parameters": [NUMBER],
                "responses": {"200": _json(_ref("TicketDetail")),
                              "404": _error("No such ticket, or not visible to this key"),
                              **ERRORS}}},
            "/tickets/{number}/comments": _action(
                "Add a comment", {"comment": COMMENT, "version": VERSION_FIELD}, ["comment"],
                "Comment added", "201"),
            "/tickets/{number}/close": _action(
                "Close the ticket",
                {"comment": COMMENT, "version": VERSION_FIELD, "customer_agreed": AGREED},
                ["comment"], "Closed"),
            "/tickets/{number}/reopen": _action(
                "Reopen a closed ticket", {"comment": COMMENT, "version": VERSION_FIELD},
                ["comment"], "Reopened"),
            "/tickets/{number}/type": _action(
                "Change the ticket's type",
                {"to": {"type": "string", "enum": ["tech_support", "refund", "cancel"]},
                 "comment": COMMENT, "version": VERSION_FIELD, "customer_agreed": AGREED},
                ["to", "comment"], "Type changed"),
            "/transactions": {"get": {
                "summary": "Search transactions (ticket-tied only without Search Orders)",
                "tags": ["transactions"],
                "parameters": [
                    _query("q", {"type": "string", "maxLength": 120},
                           "Receipt, customer email or name (or their beginning)."),
                    _query("field", {"type": "string", "enum": FIELDS}, "How to read q."),
                    _query("from", {"type": "string", "format": "date"}, "First day (in tz)."),
                    _query("to", {"type": "string", "format": "date"}, "Last day (in tz)."),
                    _query("tz", {"type": "string"}, "IANA zone of the dates (default UTC)."),
                    _query("type", {"type": "string"}, "SALE, BILL, RFND, CGBK, FEE, TEST_… "
                           "(repeat or comma-separate)."),
                    _query("vendor", {"type": "string"}, "One linked account, by nickname."),
                    _query("sku", {"type": "string", "maxLength": 40}, "Product."),
                    _query("affiliate", {"type": "string", "maxLength": 32}, "Affiliate nickname."),
                    _query("currency", {"type": "string", "pattern": "^[A-Za-z]{3}$"}, "Currency."),
                    _query("amount_min", {"type": "integer", "minimum": 0}, "In minor units."),
                    _query("amount_max", {"type": "integer", "minimum": 0}, "In minor units."),
                    _query("include_test", {"type": "boolean"}, "Include test transactions."),
                    CURSOR, LIMIT,
                ],
                "responses": {"200": _json(_ref("TransactionPage")), **READ_ERRORS}}},
            "/transactions/{ref}": {"get": {
                "summary": "One transaction by id (digits) or receipt",
                "tags": ["transactions"],
                "parameters": [{"name": "ref", "in": "path", "required": True,
                                "schema": {"type": "string", "maxLength": 40}}],
                "responses": {"200": _json(_ref("TransactionDetail")),
                              "404": _error("No such transaction, or not visible to this key"),
                              **ERRORS}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"})}}},
        },
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": SCHEMAS,
        },
    }


@bp.get("/openapi.json")
@public
def spec():
    return jsonify(document())
