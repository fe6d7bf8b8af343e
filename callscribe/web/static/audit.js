// The audit page: the transcript follows the audio, a click on a line seeks to it, and QA
// corrects lines in place (saved with fetch + the CSRF header; the form posts without script).
"use strict";

(function () {
  const transcript = document.getElementById("transcript");
  if (!transcript) { return; }
  const audio = document.getElementById("player");
  const callId = transcript.dataset.callId;
  const editable = transcript.dataset.editable === "true";
  const lines = Array.from(transcript.querySelectorAll(".line"));
  let current = null;

  function lineAt(seconds) {
    let found = null;
    for (const line of lines) {
      if (Number(line.dataset.start) <= seconds + 0.05) { found = line; } else { break; }
    }
    return found;
  }

  function markCurrent(line) {
    if (line === current) { return; }
    if (current) { current.classList.remove("current"); }
    current = line;
    if (!line) { return; }
    line.classList.add("current");
    if (!transcript.querySelector("form.edit:not([hidden])")) {
      line.scrollIntoView({ block: "nearest" });
    }
  }

  function seek(line) {
    if (!audio) { return; }
    audio.currentTime = Number(line.dataset.start);
    markCurrent(line);
  }

  function editorOf(line) { return line.querySelector("form.edit"); }

  function openEditor(line) {
    const form = editorOf(line);
    if (!editable || !form) { return; }
    form.hidden = false;
    line.classList.add("editing");
    const area = form.querySelector("textarea");
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  function closeEditor(line, restore) {
    const form = editorOf(line);
    if (!form) { return; }
    if (restore) { form.querySelector("textarea").value = form.dataset.saved || form.querySelector("textarea").defaultValue; }
    form.hidden = true;
    line.classList.remove("editing");
    line.focus();
  }

  async function save(line) {
    const form = editorOf(line);
    const area = form.querySelector("textarea");
    const status = form.querySelector(".status");
    status.textContent = "保存中 saving…";
    const url = "/audit/" + encodeURIComponent(callId) + "/segments/" + line.dataset.index;
    const result = await window.callscribe.send("POST", url, { text: area.value });
    if (!result.ok) {
      const why = result.data && result.data.detail ? result.data.detail : "HTTP " + result.status;
      status.textContent = "未保存 not saved: " + why;
      status.classList.add("error");
      return;
    }
    const fix = result.data;
    status.textContent = "";
    status.classList.remove("error");
    line.querySelector(".text").textContent = fix.corrected_text;
    line.querySelector(".machine del").textContent = fix.machine_text;
    line.querySelector(".machine").hidden = false;
    line.querySelector(".corrected-by").hidden = false;
    line.querySelector(".corrected-by .by").textContent = fix.actor + " · " + fix.at.slice(0, 16).replace("T", " ");
    line.classList.add("corrected");
    area.value = fix.corrected_text;
    form.dataset.saved = fix.corrected_text;
    closeEditor(line, false);
    const count = document.getElementById("corrected-count");
    if (count) { count.textContent = String(transcript.querySelectorAll(".line.corrected").length); }
  }

  function step(line, delta) {
    const next = lines[lines.indexOf(line) + delta];
    if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
  }

  transcript.addEventListener("click", function (event) {
    if (event.target.closest("form.edit")) { return; }
    const line = event.target.closest(".line");
    if (line) { seek(line); }
  });

  transcript.addEventListener("submit", function (event) {
    const line = event.target.closest(".line");
    if (!line) { return; }
    event.preventDefault();
    save(line);
  });

  transcript.addEventListener("keydown", function (event) {
    const line = event.target.closest(".line");
    if (!line) { return; }
    if (event.target.tagName === "TEXTAREA") {
      if ((event.key === "Enter" && (event.ctrlKey || event.metaKey)) || (event.altKey && (event.key === "s" || event.key === "S" || event.code === "KeyS"))) {
        event.preventDefault();
        save(line);
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeEditor(line, true);
      }
      return;
    }
    if (event.target !== line) { return; }
    if (event.key === "Enter") {
      event.preventDefault();
      seek(line);
      openEditor(line);
    } else if (event.key === "ArrowDown" || event.key === "j") {
      event.preventDefault();
      step(line, 1);
    } else if (event.key === "ArrowUp" || event.key === "k") {
      event.preventDefault();
      step(line, -1);
    }
  });

  transcript.addEventListener("click", function (event) {
    if (event.target.classList.contains("cancel")) {
      closeEditor(event.target.closest(".line"), true);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (!audio || event.key !== " " || window.callscribe.typing(event)) { return; }
    if (event.target.tagName === "BUTTON" || event.target.tagName === "A" || event.target.tagName === "SUMMARY") { return; }
    event.preventDefault();
    if (audio.paused) { audio.play(); } else { audio.pause(); }
  });

  if (audio) {
    audio.addEventListener("timeupdate", function () { markCurrent(lineAt(audio.currentTime)); });
    audio.addEventListener("seeked", function () { markCurrent(lineAt(audio.currentTime)); });
  }
})();
