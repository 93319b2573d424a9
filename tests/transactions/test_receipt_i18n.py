"""The receipt the customer gets — PDF and mail — is in the order's language; the receipt page
inside the portal is the vendor's and stays English."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.transactions import receipts
from tests.transactions.conftest import days_ago


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())  # the footer is justified: runs of spaces


WORDS = {
    "de": ["Beleg", "Belegnummer: I18N0001", "VERKAUFT VON", "RECHNUNGSEMPFÄNGER", "über ClickBank",
           "Zwischensumme", "Gesamt", "47,00", "Zahlungsart: VISA", "ClickBank ist der Händler"],
    "es": ["Recibo", "Número de recibo: I18N0001", "VENDIDO POR", "FACTURADO A", "Subtotal", "Total",
           "47,00", "Método de pago: VISA", "ClickBank es el vendedor"],
    "en": ["Receipt", "Receipt number: I18N0001", "SOLD BY", "BILLED TO", "Subtotal", "Total",
           "$47.00", "Payment method: VISA", "ClickBank is the retailer"],
}


@pytest.mark.parametrize("locale", ["de", "es", "en"])
def test_the_pdf_is_in_the_order_s_language(client, login, make, world, locale):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="I18N0001", locale=locale)
    login(world.search_clerk)
    r = client.get(f"/transactions/{sale.id}/receipt.pdf")
    assert r.status_code == 200
    text = pdf_text(r.data)
    for word in WORDS[locale]:
        assert word in text, word
    if locale != "en":
        assert "Receipt number" not in text and "BILLED TO" not in text


def test_the_builtin_font_pdf_is_german_too(make, world):
    sale = make.sale(world.mind, at=days_ago(world, 3), receipt="I18N0002", locale="de",
                     currency="EUR", amount_cents=123456)
    text = pdf_text(receipts.render_pdf(receipts.build(sale), force_builtin_font=True))
    assert "Belegnummer: I18N0002" in text and "RECHNUNGSEMPFÄNGER" in text
    assert "1.234,56 EUR" in text  # German number format, the euro sign spelled out


def test_a_refund_receipt_says_so_in_spanish(make, world):
    from portal.transactions import services as txn_services

    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="I18N0003", locale="es")
    refund = txn_services.refund_charge(sale, world.keto, now=days_ago(world, 1))
    db.session.commit()
    text = pdf_text(receipts.render_pdf(receipts.build(refund)))
    assert "Comprobante de reembolso" in text and "Total reembolsado" in text


def test_the_receipt_mail_of_a_german_order_is_german(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="I18N0004", locale="de",
                     email="kunde@example.de")
    login(world.search_clerk)
    r = client.post(f"/transactions/{sale.id}/email-receipt")
    assert r.status_code == 303
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert message.subject == "Beleg von ketovital: I18N0004"
    for body in (message.payload["text"], message.payload["html"]):
        assert "Belegnummer" in body and "Rechnungsempfänger" in body and "47,00\u00a0$" in body
        assert "Receipt number" not in body and "Billed to" not in body
    assert 'lang="de"' in message.payload["html"]


def test_an_english_receipt_mail_reads_as_before(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="I18N0005")
    login(world.search_clerk)
    client.post(f"/transactions/{sale.id}/email-receipt")
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "receipt"))
    assert message.subject == "Your receipt from ketovital: I18N0005"
    assert "Receipt number: I18N0005" in message.payload["text"]
    assert "$47.00" in message.payload["html"]


def test_the_vendor_s_receipt_page_stays_english(client, login, make, world):
    sale = make.sale(world.keto, at=days_ago(world, 3), receipt="I18N0006", locale="de")
    login(world.search_clerk)
    html = client.get(f"/transactions/{sale.id}/receipt").get_data(as_text=True)
    assert "Receipt number" in html and "Belegnummer" not in html
