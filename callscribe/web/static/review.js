// Operator review: the queue's row keys, and on a case the form's keyboard, the cascading
// place choices, evidence playback and the transcript following the audio.
// Plain letters act only when focus is not in a control (callscribe.typing), and nothing acts
// while an input method is composing, so typing Chinese is never taken for a shortcut.
"use strict";

(function () {
  const cs = window.callscribe;
  const REPLAY_SECONDS = 5;

  function composing(event) {
    return event.isComposing || event.keyCode === 229;
  }

  // The queue: j/k move between cases, Enter opens (the link's own behaviour).
  function initQueue(table) {
    const links = Array.from(table.querySelectorAll("a.case-link"));
    document.addEventListener("keydown", function (event) {
      if (composing(event) || cs.typing(event) || event.ctrlKey || event.altKey || event.metaKey) return;
      if (event.key !== "j" && event.key !== "k") return;
      const at = links.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(links.length - 1, at + 1) : Math.max(0, at - 1);
      if (links[next]) {
        event.preventDefault();
        links[next].focus();
      }
    });
  }

  function initCase(form) {
    const audio = document.getElementById("player");
    const transcript = document.getElementById("transcript");
    const lines = Array.from(document.querySelectorAll("#transcript .line"));
    const fields = Array.from(form.querySelectorAll(".field"));
    const status = document.getElementById("kbd-status");
    const rejectBox = document.getElementById("reject-box");
    const rejectForm = document.getElementById("reject-form");
    const confirmButton = document.getElementById("confirm-button");
    const optionsBlock = document.getElementById("review-options");
    const places = optionsBlock ? JSON.parse(optionsBlock.textContent) : { streets: {}, communities: {} };
    const decided = form.querySelector("fieldset").disabled;

    function say(text) {
      if (status) status.textContent = text;
    }

    function controlOf(field) {
      return field ? field.querySelector("[data-control]") : null;
    }

    function fieldOf(element) {
      return element && element.closest ? element.closest("#review-form .field") : null;
    }

    function focusField(field) {
      const control = controlOf(field);
      if (!control) return;
      control.focus();
      field.scrollIntoView({ block: "nearest" });
    }

    function moveField(step) {
      const at = fields.indexOf(fieldOf(document.activeElement));
      let next = at < 0 ? (step > 0 ? 0 : fields.length - 1) : at + step;
      next = Math.max(0, Math.min(fields.length - 1, next));
      focusField(fields[next]);
    }

    function accept(field) {
      if (!field || decided) return;
      field.classList.add("accepted");
      say("已接受 accepted: " + field.dataset.field);
      const at = fields.indexOf(field);
      if (at + 1 < fields.length) focusField(fields[at + 1]);
      else if (confirmButton) confirmButton.focus();
    }

    function nextLow() {
      const at = fields.indexOf(fieldOf(document.activeElement));
      const order = fields.slice(at + 1).concat(fields.slice(0, at + 1));
      const target =
        order.find(function (f) { return f.classList.contains("low") && !f.classList.contains("accepted"); }) ||
        order.find(function (f) { return f.classList.contains("low"); });
      if (target) focusField(target);
      else say("没有低置信字段 no low-confidence field");
    }

    // Playback and the transcript.
    function highlight(index) {
      lines.forEach(function (line) {
        line.classList.toggle("highlight", line.dataset.index === String(index));
      });
      const line = lines.find(function (l) { return l.dataset.index === String(index); });
      if (line) keepInView(line);
    }

    function keepInView(line) {
      const top = line.offsetTop - transcript.offsetTop;
      if (top < transcript.scrollTop || top + line.offsetHeight > transcript.scrollTop + transcript.clientHeight) {
        transcript.scrollTop = Math.max(0, top - transcript.clientHeight / 3);
      }
    }

    function play() {
      const started = audio.play();
      if (started && started.catch) {
        started.catch(function (err) {
          if (err && err.name !== "AbortError") say("无法播放 cannot play: " + err.name);
        });
      }
    }

    function seek(start, index) {
      if (audio && Number.isFinite(start)) {
        audio.currentTime = start;
        play();
      }
      if (index !== undefined && index !== "") highlight(index);
    }

    function playEvidence(field) {
      const button = field ? field.querySelector(".evidence-play") : null;
      if (button) button.click();
      else say("此字段没有证据 no evidence for this field");
    }

    function togglePlay() {
      if (!audio) return;
      if (audio.paused) play();
      else audio.pause();
    }

    function replay() {
      if (!audio) return;
      audio.currentTime = Math.max(0, audio.currentTime - REPLAY_SECONDS);
      play();
    }

    function following() {
      const t = audio.currentTime;
      let current = null;
      lines.forEach(function (line) {
        if (Number(line.dataset.start) <= t + 0.05) current = line;
      });
      if (current && Number(current.dataset.end) + 0.5 < t) current = null;
      lines.forEach(function (line) { line.classList.toggle("current", line === current); });
      if (current && !audio.paused) keepInView(current);
    }

    form.addEventListener("click", function (event) {
      const button = event.target.closest(".evidence-play");
      if (!button) return;
      seek(Number(button.dataset.start), button.dataset.segment);
    });
    lines.forEach(function (line) {
      line.addEventListener("click", function () { seek(Number(line.dataset.start), line.dataset.index); });
      line.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.ctrlKey && !event.altKey) {
          event.preventDefault();
          seek(Number(line.dataset.start), line.dataset.index);
        }
      });
    });
    if (audio) audio.addEventListener("timeupdate", following);

    // The cascading place choices: streets follow the district, communities the street.
    const district = form.querySelector('[data-place="district"]');
    const street = form.querySelector('[data-place="street"]');
    const community = form.querySelector('[data-place="community"]');

    function fill(select, values) {
      const keep = select.value;
      select.replaceChildren(new Option("—", ""));
      values.forEach(function (v) { select.add(new Option(v, v)); });
      select.value = values.indexOf(keep) >= 0 ? keep : "";
    }

    async function communitiesOf(name) {
      if (!name) return {};
      if (!places.communities[name]) {
        const response = await fetch(places.placesUrl + "?district=" + encodeURIComponent(name), { credentials: "same-origin" });
        places.communities[name] = response.ok ? await response.json() : {};
      }
      return places.communities[name];
    }

    async function streetChanged() {
      const tree = await communitiesOf(district.value);
      fill(community, tree[street.value] || []);
      marked(community);
    }

    if (district && street && community && !decided) {
      district.addEventListener("change", function () {
        fill(street, places.streets[district.value] || []);
        marked(street);
        streetChanged();
      });
      street.addEventListener("change", streetChanged);
    }

    function marked(control) {
      const field = fieldOf(control);
      if (field) field.classList.toggle("edited", control.value !== control.dataset.machine);
    }
    form.addEventListener("input", function (event) { marked(event.target); });
    form.addEventListener("change", function (event) { marked(event.target); });

    function openReject() {
      if (!rejectBox) return;
      rejectBox.open = true;
      document.getElementById("reject-reason").focus();
    }

    function submit(target, button) {
      if (decided && target === form) return;
      if (target.requestSubmit) target.requestSubmit(button || undefined);
      else target.submit();
    }

    document.addEventListener("keydown", function (event) {
      if (composing(event)) return;
      const target = event.target;
      const inReject = rejectForm && rejectForm.contains(target);
      if ((event.ctrlKey || event.altKey) && !event.metaKey && event.key === "Enter") {
        event.preventDefault();
        if (inReject) submit(rejectForm, null);
        else submit(form, confirmButton);
        return;
      }
      if (event.altKey && !event.ctrlKey && !event.metaKey) {
        const actions = {
          ArrowDown: function () { moveField(1); },
          ArrowUp: function () { moveField(-1); },
          KeyA: function () { accept(fieldOf(target)); },
          KeyN: nextLow,
          KeyV: function () { playEvidence(fieldOf(target)); },
          KeyP: togglePlay,
          KeyR: replay,
          KeyX: openReject,
        };
        const action = actions[event.code] || actions[event.key];
        if (action) {
          event.preventDefault();
          action();
        }
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape" && inReject) {
        rejectBox.open = false;
        focusField(fields[0]);
        return;
      }
      if (event.key === "Enter" && target.matches && target.matches("[data-control]") && target.tagName !== "TEXTAREA") {
        event.preventDefault();
        accept(fieldOf(target));
        return;
      }
      if (cs.typing(event)) return;
      const plain = { j: function () { moveField(1); }, k: function () { moveField(-1); }, n: nextLow, p: togglePlay };
      if (plain[event.key]) {
        event.preventDefault();
        plain[event.key]();
      }
    });
  }

  const form = document.getElementById("review-form");
  if (form) initCase(form);
  const queue = document.getElementById("queue");
  if (queue) initQueue(queue);
})();
