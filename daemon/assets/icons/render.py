#!/usr/bin/env python3
"""Render ser's tray / notification icons from the Noto Color Emoji font.

    python3 daemon/assets/icons/render.py [FONT]

FONT defaults to /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf (Debian package
fonts-noto-color-emoji, SIL Open Font License 1.1, see LICENSE-OFL.txt). Needs Pillow.
Writes <name>-32.png and <name>-64.png beside this script for every icon in ICONS.
The names are what daemon/src/ui/icons.rs embeds; keep both lists in step.
"""
import os
import sys

from PIL import Image, ImageFont, ImageDraw

# name -> emoji. The eight emotions match ser_ctl::protocol::Emotion::emoji().
ICONS = {
    "neutral": "\U0001F610",    # 😐
    "calm": "\U0001F60C",       # 😌
    "happy": "\U0001F604",      # 😄
    "sad": "\U0001F622",        # 😢
    "angry": "\U0001F620",      # 😠
    "fearful": "\U0001F628",    # 😨
    "disgust": "\U0001F922",    # 🤢
    "surprised": "\U0001F632",  # 😲
    "idle": "\U0001F442",       # 👂 listening, nothing heard (recently)
    "paused": "\u23F8\uFE0F",   # ⏸️ paused by the user
    "no_mic": "\U0001F507",     # 🔇 no usable microphone
}
SIZES = (32, 64)
# CBDT bitmap fonts only render at their strike size (109 px for Noto Color Emoji).
STRIKE = 109


def render(font, text):
    canvas = Image.new("RGBA", (STRIKE * 2, STRIKE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((STRIKE // 2, STRIKE // 2), text, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        raise SystemExit(f"render.py: the font drew nothing for {text!r}")
    glyph = canvas.crop(box)
    # centre on a square so the aspect ratio survives the downscale
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return square


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    try:
        font = ImageFont.truetype(path, STRIKE)
    except OSError as e:
        raise SystemExit(f"render.py: cannot load {path}: {e} (apt-get install fonts-noto-color-emoji)")
    out = os.path.dirname(os.path.abspath(__file__))
    for name, text in ICONS.items():
        square = render(font, text)
        for size in SIZES:
            # Pillow's PNG writer is deterministic, so re-running gives the same bytes.
            square.resize((size, size), Image.LANCZOS).save(os.path.join(out, f"{name}-{size}.png"), optimize=True)
    print(f"wrote {len(ICONS) * len(SIZES)} icons to {out}")


if __name__ == "__main__":
    main()
