// Shortcuts: / focuses the query, j/k move between hits, o or Enter opens, x expands, ? helps.
let selected = -1;

function hits() {
  return [...document.querySelectorAll(".hit")];
}

function select(index) {
  const all = hits();
  if (!all.length) return;
  selected = Math.max(0, Math.min(index, all.length - 1));
  all.forEach((hit, i) => {
    hit.classList.toggle("selected", i === selected);
    if (i === selected) hit.setAttribute("aria-current", "true");
    else hit.removeAttribute("aria-current");
  });
  const hit = all[selected];
  hit.setAttribute("tabindex", "-1");
  hit.focus({ preventScroll: true });
  hit.scrollIntoView({ block: "nearest" });
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

export function setupKeyboard(root) {
  const help = root.getElementById("shortcuts");
  root.getElementById("shortcuts-open")?.addEventListener("click", () => help.showModal());
  root.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const current = hits()[selected];
    switch (event.key) {
      case "/":
        event.preventDefault();
        root.getElementById("q")?.focus();
        break;
      case "j":
        select(selected + 1);
        break;
      case "k":
        select(selected - 1);
        break;
      case "o":
      case "Enter":
        if (current && (event.key === "o" || event.target === current)) {
          event.preventDefault();
          window.location.assign(current.dataset.href);
        }
        break;
      case "x":
        if (current) {
          const details = current.querySelector("details");
          if (details) details.open = !details.open;
        }
        break;
      case "?":
        if (help.open) help.close();
        else help.showModal();
        break;
      default:
    }
  });
}
