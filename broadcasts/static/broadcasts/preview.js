/* Live WhatsApp preview of a broadcast being written, with character counts.
 *
 * Same rules as broadcasts/formatting.py: the text is HTML-escaped first, then *bold*,
 * _italic_, ~strikethrough~ and ```monospace``` become tags. Only that escaped-then-formatted
 * string is ever put into the page as HTML.
 */
(function () {
  "use strict";

  const WORD = "\\p{L}\\p{N}_";

  function escapeHtml(text) {
    return text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#x27;");
  }

  const INLINE = [
    ["\\*", "strong"],
    ["_", "em"],
    ["~", "s"],
  ].map(function ([marker, tag]) {
    const pattern = new RegExp(
      "(?<![" + WORD + marker + "])" + marker + "(?=\\S)([^\\n]*?\\S)" + marker +
        "(?![" + WORD + marker + "])",
      "gu"
    );
    return [pattern, tag];
  });

  function formatInline(escaped) {
    for (const [pattern, tag] of INLINE) {
      escaped = escaped.replace(pattern, "<" + tag + ">$1</" + tag + ">");
    }
    return escaped.replace(/\n/g, "<br>");
  }

  function whatsappToHtml(text) {
    const monospace = /```([\s\S]+?)```/g;
    const parts = [];
    let position = 0;
    let match;
    while ((match = monospace.exec(text)) !== null) {
      parts.push(formatInline(escapeHtml(text.slice(position, match.index))));
      parts.push("<code>" + escapeHtml(match[1]).replace(/\n/g, "<br>") + "</code>");
      position = match.index + match[0].length;
    }
    parts.push(formatInline(escapeHtml(text.slice(position))));
    return parts.join("");
  }

  // Characters as WhatsApp (and Python's len) count them: code points, not UTF-16 units.
  function length(text) {
    return Array.from(text).length;
  }

  function parameters(text) {
    const trimmed = text.replace(/\r\n?/g, "\n").replace(/\n+$/, "");
    if (!trimmed.trim()) {
      return [];
    }
    return trimmed.split("\n").map(function (line) {
      return line.replace(/^ +| +$/g, "");
    });
  }

  function fill(body, values) {
    return body.replace(/\{\{\s*(\d+)\s*\}\}/g, function (placeholder, number) {
      const value = values[Number(number) - 1];
      return value === undefined ? placeholder : value;
    });
  }

  function showCount(element, count, limit) {
    element.textContent = count + " / " + limit;
    element.classList.toggle("wa-over", count > limit);
  }

  function templateBodies() {
    const data = document.getElementById("wa-template-bodies");
    return data ? JSON.parse(data.textContent) || {} : {};
  }

  function init() {
    const body = document.querySelector("textarea[data-wa-preview]");
    if (!body) {
      return;
    }
    const editor = body.closest(".wa-editor");
    const bodyBubble = editor.querySelector('[data-wa-bubble="body"]');
    const bodyCount = editor.querySelector('[data-wa-count="body"]');
    const templateBubble = editor.querySelector('[data-wa-bubble="template"]');
    const templateLabel = editor.querySelector(".wa-template-label");
    const templateSelect = document.getElementById("id_template");
    const params = document.querySelector("textarea[data-wa-parameters]");
    const bodies = templateBodies();
    let paramCounts = null;
    if (params) {
      paramCounts = document.createElement("ol");
      paramCounts.className = "wa-param-counts";
      params.insertAdjacentElement("afterend", paramCounts);
    }

    function update() {
      bodyBubble.innerHTML = whatsappToHtml(body.value);
      const bodyLength = length(body.value);
      bodyCount.querySelector("[data-wa-length]").textContent = String(bodyLength);
      bodyCount.classList.toggle("wa-over", bodyLength > Number(body.dataset.waLimit));

      const template = templateSelect ? bodies[templateSelect.value] : undefined;
      const values = params ? parameters(params.value) : [];
      templateBubble.hidden = templateLabel.hidden = !template;
      if (template) {
        templateBubble.innerHTML = whatsappToHtml(fill(template.body, values));
      }
      if (paramCounts) {
        const limit = Number(params.dataset.waLimit);
        paramCounts.replaceChildren(
          ...values.map(function (value, index) {
            const item = document.createElement("li");
            showCount(item, length(value), limit);
            item.textContent = "{{" + (index + 1) + "}} " + item.textContent;
            return item;
          })
        );
      }
    }

    for (const element of [body, params, templateSelect]) {
      if (element) {
        element.addEventListener("input", update);
        element.addEventListener("change", update);
      }
    }
    update();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
