// The page's behaviour, layered on server-rendered HTML that works without it.
import { setupHistogram } from "./histogram.js";
import { setupKeyboard } from "./keyboard.js";
import { setupLive } from "./live.js";
import { setupMembers } from "./members.js";
import { localiseTimes } from "./times.js";

localiseTimes(document);
setupMembers(document);
setupKeyboard(document);
setupLive(document);
setupHistogram(document);
