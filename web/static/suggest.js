// Suggestions as you type, for the search box: an ARIA combobox over GET /api/suggest.
// Without this script the box is a plain form. While an input method is composing (pinyin
// being turned into characters) nothing is asked: the request waits for compositionend.
(function () {
  "use strict";
  var input = document.getElementById("q");
  if (!input || !window.fetch) { return; }
  var form = input.form;
  var list = document.createElement("ul");
  list.id = "q-suggestions";
  list.className = "suggestions-list";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "搜索建议");
  list.hidden = true;
  form.appendChild(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  var composing = false;
  var active = -1;
  var timer = null;
  var asked = 0;  // the latest request: answers to older ones are dropped

  function close() {
    list.hidden = true;
    list.textContent = "";
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(text) {
    input.value = text;
    close();
    form.submit();
  }

  function highlight(index) {
    var options = list.children;
    if (!options.length) { return; }
    active = (index + options.length) % options.length;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === active ? "true" : "false");
    }
    input.setAttribute("aria-activedescendant", options[active].id);
  }

  function show(suggestions) {
    close();
    if (!suggestions.length) { return; }
    suggestions.forEach(function (suggestion, i) {
      var option = document.createElement("li");
      option.id = "q-suggestion-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.text = suggestion.text;
      option.textContent = suggestion.text;
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();  // keep the focus in the box
        choose(suggestion.text);
      });
      list.appendChild(option);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function ask() {
    var query = input.value;
    if (!query.trim()) { close(); return; }
    var mine = ++asked;
    fetch("/api/suggest?limit=8&q=" + encodeURIComponent(query))
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (body) { if (mine === asked && !composing) { show(body.suggestions); } })
      .catch(function () { close(); });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  }

  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { composing = false; later(); });
  input.addEventListener("input", function (event) {
    if (composing || event.isComposing) { return; }
    later();
  });
  input.addEventListener("keydown", function (event) {
    if (event.isComposing || composing) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (list.hidden) { ask(); return; }
      event.preventDefault();
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();
      choose(list.children[active].dataset.text);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () { setTimeout(close, 0); });
})();
