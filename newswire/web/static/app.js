// The page's behaviour, layered on server-rendered HTML that works without it.
import { setupHistogram } from "./histogram.js";
import { setupKeyboard } from "./keyboard.js";
import { setupLive } from "./live.js";
import { setupMembers } from "./members.js";
import { localiseTimes } from "./times.js";

// Empty fields and defaults stay out of the URL, so a shared search reads cleanly.
document.getElementById("search-form")?.addEventListener("submit", (event) => {
  for (const field of event.target.elements) {
    const unset = field.name && field.name !== "q" && field.value === "";
    if (unset || (field.name === "sort" && field.value === "relevance")) field.disabled = true;
  }
});

localiseTimes(document);
setupMembers(document);
setupKeyboard(document);
setupLive(document);
setupHistogram(document);

// Everything above is in place: browser tests (and anyone scripting the page) wait for this
// instead of racing the module's loading.
document.documentElement.dataset.ready = "true";
