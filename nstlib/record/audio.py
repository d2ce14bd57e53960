"""The input's sound in a stylised video: its first audio stream copied, not re-encoded, into video.mp4 and cut
to the time the video's frames cover (PyAV, the library imageio writes the video with)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

COPIED, NONE = "copied", "none"


def copy_audio(source: Path, video: Path, start: float, end: float) -> str:
    """Put `source`'s audio from `start` to `end` seconds (of its own clock) into `video`, whose file is replaced
    atomically; what happened, for config.json: COPIED, NONE (no audio in the source) or "not copied (why)"
    (a codec the container cannot hold, an unreadable file), in which case `video` is left as it was."""
    import av

    tmp = video.with_name(f".{video.stem}.audio{video.suffix}")
    try:
        with av.open(str(source)) as src, av.open(str(video)) as pictures:
            if not src.streams.audio:
                return NONE
            sound, frames = src.streams.audio[0], pictures.streams.video[0]
            with av.open(str(tmp), "w") as out:
                frames_out = out.add_stream_from_template(frames)
                sound_out = out.add_stream_from_template(sound)
                for packet in pictures.demux(frames):
                    if packet.dts is not None:
                        packet.stream = frames_out
                        out.mux(packet)
                base = sound.time_base or Fraction(1, sound.rate or 1)
                origin = (sound.start_time or 0) + round(start / base)
                stop = (sound.start_time or 0) + end / base
                for packet in src.demux(sound):
                    if packet.pts is None or not origin <= packet.pts < stop:
                        continue
                    packet.pts -= origin
                    packet.dts = packet.pts if packet.dts is None else packet.dts - origin
                    packet.stream = sound_out
                    out.mux(packet)
    except Exception as e:  # PyAV raises a kind per FFmpeg error; the video without sound is still the result
        tmp.unlink(missing_ok=True)
        return f"not copied ({' '.join(f'{e.__class__.__name__}: {e}'.split())})"
    os.replace(tmp, video)
    return COPIED
