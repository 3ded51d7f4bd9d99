import pytest

from emovec import Site, parse_sites


def test_parse_forms():
    assert Site.parse("resid_pre.3") == Site(3, "resid_pre")
    assert Site.parse("7") == Site(7) == Site.parse(7)
    assert Site.parse(str(Site(4, "resid_pre"))) == Site(4, "resid_pre")


def test_sites_sort_in_forward_order_per_stream():
    assert sorted([Site(2), Site(1, "resid_pre"), Site(1)])[0] == Site(1, "resid_post")


def test_parse_sites_specs():
    assert parse_sites("all", 3) == [Site(0), Site(1), Site(2)]
    assert parse_sites("1:3,resid_pre.0", 4) == [Site(1), Site(2), Site(0, "resid_pre")]
    assert parse_sites([1, "resid_pre.2"], 4) == [Site(1), Site(2, "resid_pre")]


@pytest.mark.parametrize("bad", [-1, True])
def test_invalid_layers(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        Site(bad)


def test_unknown_stream():
    with pytest.raises(ValueError, match="stream must be one of"):
        Site(1, "resid_mid")


def test_range_outside_model():
    with pytest.raises(ValueError, match="outside the model"):
        parse_sites("0:40", 30)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("4:2", r"Layer range '4:2' is empty.*e\.g\. '2:5'"),
        ("3:3", r"Layer range '3:3' is empty"),
        ("20,20", r"Site resid_post.20 is named twice in '20,20'"),
        ("1:4,2", r"Site resid_post.2 is named twice"),
        ([5, "resid_post.5"], r"Site resid_post.5 is named twice"),
    ],
)
def test_empty_ranges_and_repeated_sites_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_sites(spec, 30)


@pytest.mark.parametrize("spec", ["4:2", "20,20", "5,3:7"])
def test_a_spec_no_model_could_take_is_refused_before_any_model(spec):
    from emovec import check_site_spec

    with pytest.raises(ValueError, match="is empty|named twice"):
        check_site_spec(spec)


@pytest.mark.parametrize("spec", ["all", "4:", "0:40,resid_pre.3", "99"])
def test_a_spec_any_deep_enough_model_takes_passes_before_the_model(spec):
    from emovec import check_site_spec

    check_site_spec(spec)
