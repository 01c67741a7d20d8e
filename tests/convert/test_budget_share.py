"""Pictures share the budget fairly (issue 12, part 4): by the area each can be shown at on the route, not by
their original pixel counts, and what they leave is spent on the ones reduced most."""

from __future__ import annotations

from bridge.convert.compose import convert_mail
from bridge.convert.profile import profile_from
from tests.convert.helpers import mail, photo


def images(conv: object) -> list[tuple[str | None, int, int | None, int | None]]:
    return [(i.source, i.size, i.width, i.height) for i in conv.items if i.kind == "image"]  # type: ignore[attr-defined]


def test_a_snapshot_beside_a_12_mp_photo_is_not_shrunk_for_the_photos_pixels() -> None:
    raw = mail(
        "Front door and garden",
        attachments=[(photo(640, 480, seed=2), "image/jpeg", "snap.jpg"), (photo(4032, 3024), "image/jpeg", "big.jpg")],
    )
    conv = convert_mail(raw)  # the default route: 300 KB, 640x480
    shown = {source: (w, h) for source, _, w, h in images(conv)}
    assert shown == {"snap.jpg": (640, 480), "big.jpg": (640, 480)}, images(conv)
    assert conv.budget_used <= 300 * 1024


def flat_graph() -> bytes:
    """A graph-like picture: large flat areas, a few lines; it compresses to a few kilobytes."""
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(im)
    for x in range(0, 640, 40):
        draw.line([(x, 480), (x + 40, 480 - (x * 7) % 400)], fill="navy", width=3)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_what_the_pictures_leave_is_spent_on_those_reduced_most() -> None:
    profile = profile_from("image-rich")  # 100 KB, 640x480
    raw = mail(
        "Camera and graph",
        attachments=[(photo(640, 480, seed=7), "image/jpeg", "camera.jpg"), (flat_graph(), "image/jpeg", "graph.jpg")],
    )
    conv = convert_mail(raw, profile=profile)
    sizes = {source: size for source, size, _, _ in images(conv)}
    assert conv.budget_used <= profile.max_message_bytes
    # the graph needs less than its half; the camera picture gets what the graph left, not half the budget only
    assert sizes["graph.jpg"] < 40 * 1024, sizes
    assert sizes["camera.jpg"] > 0.6 * profile.max_message_bytes, sizes


def test_a_route_with_a_media_count_takes_pictures_first_and_names_what_it_left_out() -> None:
    """The REST aggregators take at most ten media parts (Twilio's and Telnyx's documents): twelve pictures and a
    sound keep ten pictures; the other two and the sound are named as not sent."""
    from tests.convert.helpers import media

    pictures = [(photo(320, 240, seed=i), "image/jpeg", f"p{i:02}.jpg") for i in range(12)]
    sound = (media("amr--androidx-media--nb.amr"), "audio/amr", "voice.amr")
    conv = convert_mail(mail("Twelve", attachments=[*pictures, sound]), profile=profile_from("twilio"))
    assert [source for source, *_ in images(conv)] == [f"p{i:02}.jpg" for i in range(10)]
    assert sorted(d.split(" ")[0] for d in conv.dropped) == ["p10.jpg", "p11.jpg", "voice.amr"]
    assert all("at most 10 media parts" in d for d in conv.dropped)
    # no limit on the default route: all twelve and the sound go (each smaller)
    default = convert_mail(mail("Twelve", attachments=[*pictures, sound]))
    assert len(images(default)) == 12 and not default.dropped


def test_a_sound_is_held_to_the_routes_clip_limit_while_pictures_use_the_whole_budget() -> None:
    import dataclasses

    from tests.convert.helpers import media

    twilio = profile_from("twilio")
    assert twilio.max_clip_bytes == 500_000 and twilio.max_message_bytes == 5_000_000
    budget = dataclasses.replace(twilio, max_clip_bytes=30_000)
    sound = (media("mp3--file-type--lame.mp3"), "audio/mpeg", "song.mp3")
    conv = convert_mail(
        mail("Listen", attachments=[sound, (photo(2000, 1500), "image/jpeg", "big.jpg")]), profile=budget
    )
    [audio] = [i for i in conv.items if i.kind == "audio"]
    assert audio.size <= 30_000
    [(_, size, width, height)] = images(conv)
    assert size > 30_000 and max(width or 0, height or 0) <= 1600
