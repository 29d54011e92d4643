// Expanding a story hit loads its members in place (the summary links to the story page).
import { localiseTimes } from "./times.js";

async function load(details) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "loading";
  const body = details.querySelector(".members-body");
  try {
    const response = await fetch(details.dataset.members, { headers: { Accept: "text/html" } });
    const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
    const fragment = parsed.querySelector("main") || parsed.body;
    body.replaceChildren(...fragment.childNodes);
    localiseTimes(body);
    details.dataset.loaded = "yes";
  } catch {
    delete details.dataset.loaded;
  }
}

export function setupMembers(root) {
  for (const details of root.querySelectorAll("details[data-members]")) {
    details.addEventListener("toggle", () => {
      if (details.open) load(details);
    });
  }
}
