from pathlib import Path

import pytest

from winnow.errors import ProtocolError
from winnow.protocol import load_protocol, shipped_protocols

from support import DENNSTAEDT


def test_gold_protocol_loads() -> None:
    loaded = load_protocol(DENNSTAEDT / "protocol.yaml")
    assert loaded.protocol.criterion_ids == ["I1", "I2", "I3", "E1", "E2"]
    assert [c.kind for c in loaded.protocol.all_criteria] == ["inclusion"] * 3 + ["exclusion"] * 2
    assert len(loaded.sha256) == 64


def test_shipped_foundation_model_protocol_loads_by_name() -> None:
    assert "foundation_models_medical_imaging" in shipped_protocols()
    loaded = load_protocol("foundation_models_medical_imaging")
    assert "model_type" in loaded.protocol.criterion_ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "title: Tst\nquestion: Q??\ncriteria: {inclusion: []}\n",
            "field criteria: at least one inclusion or exclusion criterion is required",
        ),
        (
            "title: Tst\nquestion: Q??\ncriteria:\n  inclusion:\n"
            "    - {id: I1, text: abc}\n    - {id: I1, text: def}\n",
            "criterion id 'I1' is used twice",
        ),
        (
            "title: Tst\nquestion: Q??\ncriteria:\n  inclusion:\n    - {id: 1bad, text: abc}\n",
            "field criteria.inclusion.0.id",
        ),
        ("question: Q??\ncriteria:\n  inclusion:\n    - {id: I1, text: abc}\n", "field title: Field required"),
        ("title: Tst\nquestion: Q??\ncriterias: {}\n", "field criteria: Field required"),
        ("title: [unclosed\n", "invalid YAML"),
        ("- a list\n", "protocol must be a YAML mapping"),
    ],
)
def test_bad_protocols_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    line = err.value.one_line()
    assert line.startswith(str(path))
    assert message in line
    assert "\n" not in line


def test_missing_protocol(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "nope.yaml")
