// The console's only script: the phone's slide player and the live message list. No inline script anywhere
// (the Content-Security-Policy forbids it), no library, nothing from another origin.
"use strict";

function slidePlayer(phone) {
  const slides = Array.from(phone.querySelectorAll(".slide"));
  if (!slides.length) return;
  let current = 0;
  let timer = null;
  function show(n) {
    current = (n + slides.length) % slides.length;
    slides.forEach((slide, i) => { slide.hidden = i !== current; });
    phone.dataset.current = String(current);
  }
  function stop() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    document.getElementById("play").textContent = "Play";
  }
  function play() {
    document.getElementById("play").textContent = "Stop";
    const seconds = parseFloat(slides[current].dataset.duration) || 5;
    timer = setTimeout(() => { show(current + 1); if (current === 0) { stop(); } else { play(); } }, seconds * 1000);
  }
  document.getElementById("previous").addEventListener("click", () => { stop(); show(current - 1); });
  document.getElementById("next").addEventListener("click", () => { stop(); show(current + 1); });
  document.getElementById("play").addEventListener("click", () => { if (timer === null) { play(); } else { stop(); } });
  show(0);
}

function liveList(table) {
  const rows = document.getElementById("rows");
  const source = new EventSource(table.dataset.live);
  source.addEventListener("change", async () => {
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "rows");
    url.searchParams.delete("before");
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.ok) {
      const holder = document.createElement("tbody");
      holder.innerHTML = await response.text();  // the server escaped every value in it
      rows.replaceChildren(...holder.children);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const phone = document.getElementById("phone");
  if (phone) slidePlayer(phone);
  const table = document.querySelector("table[data-live]");
  if (table) liveList(table);
});
