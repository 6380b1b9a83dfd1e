"""WhatsApp's markup rendered for staff previews, and template bodies filled in: one rule."""

import pytest

from gateway.formatting import template_fill, template_placeholder_count, whatsapp_to_html
from gateway.types import TemplateMessage


def test_whatsapp_formatting_becomes_safe_html():
    html = whatsapp_to_html("*Bold* _italic_ ~gone~ ```co*d*e``` <script>alert(1)</script> & 2*3*4")

    assert html == (
        "<strong>Bold</strong> <em>italic</em> <s>gone</s> <code>co*d*e</code> "
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 2*3*4"
    )


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("* not bold*", "* not bold*"),
        ("snake_case_name", "snake_case_name"),
        ("*a\nb*", "*a<br>b*"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("<b>*x*</b>", "&lt;b&gt;<strong>x</strong>&lt;/b&gt;"),
        ('"*q*"', "&quot;<strong>q</strong>&quot;"),
    ],
)
def test_formatting_follows_whatsapps_rules(text, html):
    assert whatsapp_to_html(text) == html


def test_template_placeholders_are_counted_and_filled():
    body = "Chiusura di {{1}} il {{2}}; ancora {{1}}."

    assert template_placeholder_count(body) == 2
    assert template_fill(body, ["via Roma", "lunedì"]) == (
        "Chiusura di via Roma il lunedì; ancora via Roma."
    )


def test_a_template_message_reads_as_the_same_fill():
    message = TemplateMessage(
        to="+393331234567",
        name="avviso",
        language="it",
        body_parameters=("via Roma",),
        body_text="Chiusura di {{ 1 }}; {{2}} resta.",
    )
    assert message.rendered_body() == template_fill(message.body_text, ["via Roma"])
    assert message.rendered_body() == "Chiusura di via Roma; {{2}} resta."
