"""Several styles in one pass: `--variant NAME:KEY=VALUE,...` writes OUTPUT/<NAME>/..., one manifest
row per input and variant, each input listed, read and decoded once, resumed per variant."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from images import encoded, photo
from PIL import Image

from jobs import cli
from operators.errors import ConfigError
from pipeline.run import ConvertConfig, convert, prepare
from pipeline.settings import ModelSettings
from pipeline.variants import Variant, check_names, gather, spread

MULTISTYLE = ModelSettings("onnx", {"preset": "multistyle26"})


def test_a_variant_is_a_name_and_its_options() -> None:
    assert Variant.parse("hayao:preset=hayao") == Variant("hayao", {"preset": "hayao"})
    blend = Variant.parse("starry:style=a.jpg,b.jpg,style_blend=0.7,0.3")
    assert blend.settings == {"style": "a.jpg,b.jpg", "style_blend": "0.7,0.3"}  # a list stays its option's
    assert Variant.parse("v2:style=3").model(MULTISTYLE) == ModelSettings("onnx", {"preset": "multistyle26", "style": "3"})
    for bad in ("hayao", "../up:preset=x", "_manifest:preset=x", "a b:preset=x", "x.work:preset=x", "a:", "a:preset"):
        with pytest.raises(ConfigError, match="--variant"):
            Variant.parse(bad)
    with pytest.raises(ConfigError, match="given twice"):
        check_names((Variant("Soft", {"a": "1"}), Variant("soft", {"a": "2"})))


def test_rows_are_gathered_per_input_and_spread_per_variant() -> None:
    listed = pa.table({"input": ["a", "a", "b"], "input_version": ["1", "1", "2"], "member": ["", "", ""],
                       "output": ["o/x/a", "o/y/a", "o/y/b"], "status": ["pending"] * 3, "error": [""] * 3,
                       "variant": ["x", "y", "y"], "config_hash": ["hx", "hy", "hy"]})
    gathered = gather(listed)
    assert gathered["input"].to_pylist() == ["a", "b"]
    assert gathered["variants"].to_pylist() == [["x", "y"], ["y"]]
    assert gathered["outputs"].to_pylist() == [["o/x/a", "o/y/a"], ["o/y/b"]]
    picture = np.zeros((2, 2, 3), np.uint8)
    batch = {name: np.array(gathered[name].to_pylist() if name not in ("variants", "outputs", "config_hashes")
                            else [np.array(v, object) for v in gathered[name].to_pylist()], object)
             for name in gathered.column_names}
    batch["image"] = np.array([picture, picture[:1]], object)
    rows = spread(batch)
    assert list(rows["variant"]) == ["x", "y", "y"] and list(rows["config_hash"]) == ["hx", "hy", "hy"]
    assert list(rows["output"]) == ["o/x/a", "o/y/a", "o/y/b"]
    assert rows["image"][0] is rows["image"][1] is picture  # one decoded picture, not copies


def test_variants_are_checked_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encoded(photo(8, 8)))
    cfg = ConvertConfig(str(tmp_path), str(tmp_path / "out"), ModelSettings("onnx", {}),
                        variants=(Variant("one", {"preset": "multistyle26"}), Variant("two", {"preset": "nonesuch"})))
    with pytest.raises(ConfigError, match="no preset 'nonesuch'"):
        prepare(cfg)
    plan = prepare(ConvertConfig(str(tmp_path), str(tmp_path / "out"), MULTISTYLE,
                                 variants=(Variant("one", {"style": "1"}), Variant("two", {"style": "2"}))))
    assert [style.variant for style in plan.styles] == ["one", "two"]
    assert len({style.config_hash for style in plan.styles} | {plan.config_hash}) == 3


def manifest(result) -> list[dict]:
    return pq.read_table(result.manifest).to_pylist()


def test_three_variants_in_one_pass_and_a_fourth_added_later(ray_cluster, tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    (source / "trip").mkdir(parents=True)
    pictures = {"a.png": photo(40, 30), "trip/b.png": photo(30, 40, seed=1)}
    for name, picture in pictures.items():
        (source / name).write_bytes(encoded(picture))
    (source / "broken.png").write_bytes(b"no picture")
    out = tmp_path / "out"
    variants = tuple(Variant(f"s{k}", {"style": str(k)}) for k in (1, 7, 20))
    cfg = ConvertConfig(str(source), str(out), MULTISTYLE, variants=variants)
    result = convert(cfg)
    rows = manifest(result)
    assert len(rows) == 9 and {(r["variant"], r["status"]) for r in rows if "broken" in r["input"]} == {
        ("s1", "failed"), ("s7", "failed"), ("s20", "failed")}  # a row per input and variant, failures too
    assert all(r["output"] == f"{out}/{r['variant']}/{Path(r['input']).relative_to(source).with_suffix('.png')}"
               for r in rows if r["status"] == "converted")
    styled = {v.name: np.asarray(Image.open(out / v.name / "trip" / "b.png")) for v in variants}
    assert all(image.shape == (40, 30, 3) for image in styled.values())
    assert np.abs(styled["s1"].astype(int) - styled["s7"]).mean() > 5  # each variant its own model
    assert "3 variants" in result.note and (result.totals.converted, result.totals.failed) == (6, 3)
    page = Path(result.report).read_text()  # the report and `status` say how each variant went
    assert "<h2>Variants</h2>" in page and "<code>s7/</code>" in page and "style=7" in page
    assert cli.main(["status", str(out)]) == 1
    assert "    variant s20: 2 converted, 0 skipped, 1 failed" in capsys.readouterr().out

    more = convert(ConvertConfig(str(source), str(out), MULTISTYLE, variants=(*variants, Variant("s9", {"style": "9"}))))
    again = {(r["variant"], Path(r["input"]).name): r["status"] for r in manifest(more)}
    assert {key for key, status in again.items() if status == "converted"} == {("s9", "a.png"), ("s9", "b.png")}
    assert [key for key, status in again.items() if status == "skipped"] and sorted(
        key[0] for key, status in again.items() if status == "skipped") == ["s1", "s1", "s20", "s20", "s7", "s7"]
