// How a sandbox avatar looks: a face derived from its preset's slug (hair style and
// colour, skin tone, eyes, glasses, earrings, beard) and colours (its thumbnail's, when
// the page can read them), the same every time for the same slug; and the drawing of it
// on a 480-unit grid. Pure but for the canvas calls, so the look is tested in Node.

const SKINS = [
  ["#f8dcc4", "#e8c0a2"],
  ["#f1c4a4", "#e0ac8a"],
  ["#dfa97f", "#c99069"],
  ["#c68a5e", "#ad734b"],
  ["#9c6641", "#85553a"],
  ["#6e452c", "#5c3923"],
];
const HAIR_COLOURS = ["#1e1b18", "#3b2a20", "#5d3a1f", "#8a4b24", "#c9a15a", "#a9a39b", "#7a2e1a"];
export const HAIR_STYLES = ["short", "bob", "long", "curly", "bun", "buzz", "swept"];
// The styles people expect for a voice's gender, where the preset says it: a female
// voice with a buzz cut reads as a mismatch (issue 17: "Ada" got short hair). Curly
// suits both. An unknown gender picks from all of them.
const STYLES_FOR = {
  female: ["bob", "long", "curly", "bun"],
  male: ["short", "buzz", "swept", "curly"],
};
const EYES = ["#2b1d14", "#1f3a5a", "#2e4a2a", "#4a3620"];
const GLASSES = ["none", "none", "round", "square"];

/** A 32-bit FNV-1a hash of `text`: the same number in every browser and in Node. */
export function hashOf(text) {
  let h = 0x811c9dc5;
  for (const ch of String(text)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The look of the avatar `seed` names (its preset's slug). `colours` may carry its
 * thumbnail's {backdrop, clothes}; missing ones are derived from the seed too. `gender`
 * is its voice's, when known ("female" never gets a beard).
 */
export function faceLook(seed, colours = {}, gender = "") {
  const pick = (list, what) => list[hashOf(`${seed}/${what}`) % list.length];
  const hue = hashOf(`${seed}/hue`) % 360;
  const style = pick(STYLES_FOR[gender] ?? HAIR_STYLES, "hair");
  // A beard only with short hair, never for a female voice, and not on most faces.
  const beard =
    gender !== "female" && ["short", "buzz", "swept"].includes(style) && hashOf(`${seed}/beard`) % 3 === 0;
  return {
    seed: String(seed),
    gender,
    skin: pick(SKINS, "skin"),
    hair: { style, colour: pick(HAIR_COLOURS, "hair colour") },
    eyes: pick(EYES, "eyes"),
    glasses: pick(GLASSES, "glasses"),
    earrings: !beard && hashOf(`${seed}/earrings`) % (gender === "female" ? 2 : 4) === 0,
    beard,
    backdrop: colours.backdrop ?? `hsl(${hue} 45% 80%)`,
    clothes: colours.clothes ?? `hsl(${(hue + 180) % 360} 35% 35%)`,
  };
}

/** Draw `look` on a 480 x 480 grid (the caller scales): `pose` is {t, bob, talking, open}. */
export function drawFace(ctx, look, pose) {
  const { bob } = pose;
  ctx.save();
  ctx.translate(0, bob);
  shoulders(ctx, look);
  hairBehind(ctx, look);
  head(ctx, look);
  hairFront(ctx, look);
  features(ctx, look, pose);
  accessories(ctx, look);
  ctx.restore();
}

/** The face still, filling a square `canvas` on its backdrop: a preset card's preview. */
export function drawPortrait(canvas, look) {
  const ctx = canvas.getContext?.("2d");
  if (!ctx) return;
  const side = Math.min(canvas.width, canvas.height);
  ctx.fillStyle = look.backdrop;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.save();
  ctx.translate((canvas.width - side) / 2, (canvas.height - side) / 2);
  ctx.scale(side / 480, side / 480);
  // Eyes open (a blink starts at t = 0 of each 4.2 s), mouth closed.
  drawFace(ctx, look, { t: 1000, bob: 0, talking: false, open: 0 });
  ctx.restore();
}

function ellipse(ctx, x, y, rx, ry, fill) {
  ctx.fillStyle = fill;
  ctx.beginPath();
  ctx.ellipse(x, y, rx, ry, 0, 0, Math.PI * 2);
  ctx.fill();
}

function shoulders(ctx, look) {
  ctx.fillStyle = look.clothes;
  ctx.beginPath();
  ctx.ellipse(240, 500, 190, 120, 0, Math.PI, 0);
  ctx.fill();
  ctx.fillStyle = look.skin[1];
  ctx.fillRect(212, 300, 56, 85);
  // A collar, so the neck meets the clothes rather than floating over them.
  ctx.beginPath();
  ctx.ellipse(240, 388, 46, 16, 0, 0, Math.PI);
  ctx.fill();
}

function hairBehind(ctx, look) {
  const { style, colour } = look.hair;
  if (style === "long") {
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.moveTo(120, 190);
    ctx.quadraticCurveTo(110, 360, 150, 410);
    ctx.lineTo(330, 410);
    ctx.quadraticCurveTo(370, 360, 360, 190);
    ctx.closePath();
    ctx.fill();
  } else if (style === "bob") {
    ctx.fillStyle = colour;
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(116, 150, 248, 170, 40);
    else ctx.rect(116, 150, 248, 170);
    ctx.fill();
  } else if (style === "bun") {
    ellipse(ctx, 240, 76, 46, 40, colour);
  }
}

function head(ctx, look) {
  for (const x of [128, 352]) ellipse(ctx, x, 222, 16, 26, look.skin[1]); // ears
  ellipse(ctx, 240, 215, 112, 132, look.skin[0]);
}

function hairFront(ctx, look) {
  const { style, colour } = look.hair;
  ctx.fillStyle = colour;
  ctx.beginPath();
  if (style === "buzz") {
    ctx.globalAlpha = 0.55;
    ctx.ellipse(240, 170, 112, 90, 0, Math.PI * 1.05, Math.PI * 1.95);
    ctx.fill();
    ctx.globalAlpha = 1;
  } else if (style === "curly") {
    for (let i = 0; i <= 10; i++) {
      const a = Math.PI * (1.02 + (0.96 * i) / 10);
      ctx.moveTo(240 + 112 * Math.cos(a) + 30, 175 + 100 * Math.sin(a));
      ctx.arc(240 + 112 * Math.cos(a), 175 + 100 * Math.sin(a), 30, 0, Math.PI * 2);
    }
    ctx.fill();
  } else if (style === "swept") {
    ctx.ellipse(250, 140, 118, 64, -0.18, Math.PI * 0.95, Math.PI * 2.05);
    ctx.fill();
  } else {
    // short, bob, long and bun: a cap with a fringe parted a little off centre
    ctx.ellipse(240, 150, 116, 70, 0, Math.PI, 0);
    ctx.fill();
    ctx.beginPath();
    ctx.ellipse(205, 148, 66, 22, 0.12, 0, Math.PI);
    ctx.fill();
  }
}

function features(ctx, look, { t, talking, open }) {
  const blink = t % 4200 < 130;
  for (const x of [198, 282]) {
    ellipse(ctx, x, 205, 15, blink ? 2 : 13, "#fff");
    if (!blink) ellipse(ctx, x, 206, 9, 10, look.eyes);
  }
  ctx.globalAlpha = 0.25;
  for (const x of [175, 305]) ellipse(ctx, x, 250, 20, 11, "#e0607a"); // cheeks
  ctx.globalAlpha = 1;
  ctx.strokeStyle = look.hair.style === "buzz" ? "#3b2a20" : look.hair.colour;
  ctx.lineWidth = 6;
  ctx.lineCap = "round";
  const lift = talking ? 4 + 2 * Math.sin(t / 260) : 0;
  for (const x of [198, 282]) {
    ctx.beginPath();
    ctx.moveTo(x - 18, 178 - lift);
    ctx.lineTo(x + 18, 176 - lift);
    ctx.stroke();
  }
  if (look.beard) beard(ctx, look);
  const lips = look.beard ? "#c9707a" : "#7a1f2b";
  if (open > 0) {
    ellipse(ctx, 240, 282, 32, 4 + 24 * open, "#6a1a25");
  } else {
    ctx.strokeStyle = lips;
    ctx.lineWidth = 5;
    ctx.beginPath();
    ctx.arc(240, 262, 34, Math.PI * 0.2, Math.PI * 0.8);
    ctx.stroke();
  }
}

function beard(ctx, look) {
  ctx.save();
  ctx.beginPath();
  ctx.ellipse(240, 215, 112, 132, 0, 0, Math.PI * 2);
  ctx.clip();
  ctx.fillStyle = look.hair.colour;
  ctx.beginPath();
  ctx.moveTo(120, 230);
  ctx.quadraticCurveTo(240, 300, 360, 230);
  ctx.lineTo(360, 360);
  ctx.lineTo(120, 360);
  ctx.closePath();
  ctx.fill();
  ctx.restore();
}

function accessories(ctx, look) {
  if (look.glasses !== "none") {
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 5;
    ctx.beginPath();
    for (const x of [198, 282]) {
      if (look.glasses === "round") {
        ctx.moveTo(x + 27, 206);
        ctx.arc(x, 206, 27, 0, Math.PI * 2);
      } else {
        ctx.rect(x - 30, 186, 60, 42);
      }
    }
    ctx.moveTo(225, 204);
    ctx.quadraticCurveTo(240, 194, 255, 204); // the bridge
    ctx.stroke();
  }
  if (look.earrings) {
    for (const x of [128, 352]) ellipse(ctx, x, 256, 7, 7, "#d4a537");
  }
}
