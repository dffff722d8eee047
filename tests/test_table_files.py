"""Table files read with pyarrow: CSV (types, missing cells, quoting, batches) and Parquet; errors that
name the file, row and column; splits that keep rows whole."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlpkit.datasets import load_dataset, read_csv, read_csv_features, read_table
from mlpkit.datasets import table_files as table_files_module
from mlpkit.datasets.table_files import read_table_file


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def values(table, name):
    """A column's cells as Python values (None for a missing one), from its codes or numbers."""
    column = table.column(name)
    if column.is_numeric:
        return [None if np.isnan(v) else float(v) for v in column.values]
    return [None if code < 0 else column.categories[code] for code in column.values]


def test_text_labels_numbers_and_blank_lines(tmp_path):
    path = write(tmp_path / "pets.csv", "weight,height,kind\n1.5,2,cat\n-3e2, 4 ,dog\n\n7,8,cat\n")
    table = read_csv(path)
    assert values(table.X, "weight") == [1.5, -300.0, 7.0] and values(table.X, "height") == [2, 4, 8]
    np.testing.assert_array_equal(table.y, ["cat", "dog", "cat"])
    assert table.feature_names == ["weight", "height"] and table.target_name == "kind"
    by_height = read_csv(path, target="height")  # the text column becomes a categorical feature
    assert values(by_height.X, "kind") == ["cat", "dog", "cat"] and by_height.y.tolist() == [2, 4, 8]


def test_targets_are_integers_floats_or_text(tmp_path):
    integers = read_csv(write(tmp_path / "i.csv", "a,b\n1,2\n3,4\n"))
    assert integers.y.dtype == np.int64 and integers.y.tolist() == [2, 4]
    floats = read_csv(write(tmp_path / "f.csv", "a,b\n1,2.5\n3,4\n"))
    assert floats.y.dtype == np.float64 and floats.y.tolist() == [2.5, 4.0]
    flags = read_csv(write(tmp_path / "b.csv", "a,b\n1,true\n3,false\n"))
    assert flags.y.tolist() == ["True", "False"]


def test_missing_cells_quoting_booleans_and_a_byte_order_mark(tmp_path):
    text = (
        "\ufeffage,home,city,student,y\n"
        '30,rent,"Paris, FR",true,1\n'
        ',NA,"multi\nline",,0\n'
        "NaN,None,Lyon,false,1\n"
        'nan,"",null,true,0\n'
        "41,own,N/A,NULL,1\n"
    )
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode("utf-8"))
    table = read_csv(path)
    assert table.X.names == ["age", "home", "city", "student"]
    assert values(table.X, "age") == [30, None, None, None, 41]
    assert values(table.X, "home") == ["rent", None, None, None, "own"]
    assert values(table.X, "city") == ["Paris, FR", "multi\nline", "Lyon", None, None]
    assert values(table.X, "student") == ["True", None, "False", "True", None]


def test_a_numeric_target_with_a_missing_cell_is_refused_not_made_a_class(tmp_path):
    path = write(tmp_path / "t.csv", "a,y\n1,0.5\n2,NA\n3,1.5\n")
    with pytest.raises(ValueError, match=r"t.csv, row 2, column 'y': missing target value"):
        read_csv(path)
    text = write(tmp_path / "c.csv", "a,y\n1,up\n2,down\n3,NA\n")
    with pytest.raises(ValueError, match=r"c.csv, row 3, column 'y': missing target value"):
        read_csv(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,c\n1,2,x\n3,inf,y\n", r"bad.csv, row 2, column 'b': inf is not a finite number"),
        ("a,b,c\n1,2,3\n4,5,-inf\n", r"bad.csv, row 2, column 'c': -inf is not a finite target value"),
        ("a,b,c\n1,2,x\n3,y\n", r"bad.csv, row 2: 2 cells, expected 3 like the header"),
        ("a,b,c\n1,2,\n", r"row 1, column 'c': missing target value"),
        ("", "the file is empty"),
        ("a,b,c\n", "no data rows after the header"),
        ("a,a,c\n1,2,3\n", r"repeats column name\(s\) \['a'\]"),
        ("a,,c\n1,2,3\n", "header cell 2 is empty"),
        ("a\n1\n", "needs at least one feature column"),
    ],
)
def test_errors_name_file_row_and_column(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_csv(write(tmp_path / "bad.csv", text))


def test_unknown_target_and_bad_files(tmp_path):
    path = write(tmp_path / "t.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"no target column 'd'; the columns are \['a', 'b', 'c'\]$"):
        read_csv(path, target="d")
    spaced = write(tmp_path / "spaced.csv", "a, b, Price\n1,2,3\n")  # blanks after the commas
    with pytest.raises(ValueError, match=r"no target column 'price'; .*; did you mean ' Price'\?"):
        read_csv(spaced, target="price")
    (tmp_path / "latin.csv").write_bytes(b"a,b,label\n1,2,\xff\xfe\n")
    with pytest.raises(ValueError, match=r"latin.csv: not UTF-8 text"):
        read_csv(tmp_path / "latin.csv")
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"fake.parquet: not a readable Parquet file"):
        read_table(tmp_path / "fake.parquet")
    with pytest.raises(FileNotFoundError, match=r"absent.parquet: no such file"):
        read_table(tmp_path / "absent.parquet")


def test_later_blocks_widen_a_column_inferred_from_the_first(tmp_path, monkeypatch):
    monkeypatch.setattr(table_files_module, "CSV_BLOCK_BYTES", 64)  # many blocks, types from the first
    lines = ["n,x,word,y"] + [f"{i},{i},w{i % 3},{i % 2}" for i in range(100)]
    lines += ["100,2.5,w1,0", "oops,7,w4,1"]
    table = read_csv(write(tmp_path / "late.csv", "\n".join(lines) + "\n"))
    assert values(table.X, "x")[-2:] == [2.5, 7.0] and table.X.column("x").is_numeric
    assert not table.X.column("n").is_numeric and values(table.X, "n")[-2:] == ["100", "oops"]
    assert values(table.X, "word") == [f"w{i % 3}" for i in range(100)] + ["w1", "w4"]
    assert table.y.tolist() == [i % 2 for i in range(100)] + [0, 1]


def test_chunks_end_between_records_never_inside_a_quoted_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(table_files_module, "CSV_BLOCK_BYTES", 16)
    cells = [f'"line {i}\nand, more ""quoted""",{i}' for i in range(30)]
    table = read_csv(write(tmp_path / "q.csv", "note,y\n" + "\n".join(cells) + "\n"))
    assert values(table.X, "note") == [f'line {i}\nand, more "quoted"' for i in range(30)]
    assert table.y.tolist() == list(range(30))
    short = write(tmp_path / "short.csv", "a,b\n" + "".join(f"{i},{i}\n" for i in range(40)) + "7\n")
    with pytest.raises(ValueError, match=r"short.csv, row 41: 1 cells, expected 2 like the header"):
        read_csv(short)


def test_named_columns_are_read_as_text_or_numbers(tmp_path):
    path = write(tmp_path / "z.csv", "zip,n,y\n01000,1,a\n75001,2,b\n")
    assert values(read_csv(path).X, "zip") == [1000, 75001]
    assert values(read_csv(path, categorical=["zip"]).X, "zip") == ["01000", "75001"]
    table, y, target = read_table_file(path, labelled=False, numeric=["y"], categorical=["n"])
    assert target is None and y is None and table.names == ["zip", "n", "y"]
    assert values(table, "n") == ["1", "2"] and values(table, "y") == ["a", "b"]  # text stays text


def test_parquet_reads_like_the_csv_it_was_made_from(tmp_path, monkeypatch):
    monkeypatch.setattr(table_files_module, "PARQUET_BATCH_ROWS", 3)  # several batches
    frame = pd.DataFrame(
        {
            "age": [30.0, np.nan, 41.0, 25.0, np.nan, 60.0, 33.0],
            "home": pd.Categorical(["rent", None, "own", "rent", "own", "mortgage", None]),
            "student": [True, False, None, True, False, True, False],
            "count": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
            "label": ["a", "b", "a", "b", "a", "b", "a"],
        }
    )
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=4
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    from_parquet, from_csv = read_table(tmp_path / "t.parquet"), read_table(tmp_path / "t.csv")
    for name in ("age", "home", "student", "count"):
        assert values(from_parquet.X, name) == values(from_csv.X, name), name
    assert from_parquet.y.tolist() == from_csv.y.tolist() == frame["label"].tolist()


def test_split_is_stratified_seeded_and_keeps_rows_whole(tmp_path):
    lines = ["f1,f2,c"] + [f"{i},{i * 2},{'ab'[i % 2]}" for i in range(40)]
    path = write(tmp_path / "s.csv", "\n".join(lines) + "\n")
    data = load_dataset(path, seed=3)
    assert sorted(data.y_test.tolist()) == ["a"] * 4 + ["b"] * 4
    assert data.X_train.shape == (32, 2) and data.scaling == "schema"
    again = load_dataset(path, seed=3)
    assert values(again.X_test, "f1") == values(data.X_test, "f1")
    f1, f2 = (np.array(values(data.X_train, name)) for name in ("f1", "f2"))
    np.testing.assert_array_equal(f2, 2 * f1)  # rows stay whole
    c = np.array(values(data.X_train, "f1")) % 2
    np.testing.assert_array_equal(np.where(c == 0, "a", "b"), data.y_train)


def test_numeric_rows_for_a_model_without_a_schema(tmp_path):
    by_name = write(tmp_path / "named.csv", "c,extra,a\n3,9,1\n6,9,4\n")
    np.testing.assert_array_equal(read_csv_features(by_name, 2, ["a", "c"]), [[1, 3], [4, 6]])
    plain = write(tmp_path / "plain.csv", "x,y\n1,2\n")
    np.testing.assert_array_equal(read_csv_features(plain, 2, ["a", "c"]), [[1, 2]])
    with pytest.raises(ValueError, match=r"plain.csv: has 2 columns but the model takes 3 features"):
        read_csv_features(plain, 3)
    gaps = write(tmp_path / "gaps.csv", "a,b\n1,2\n3,\n")
    with pytest.raises(ValueError, match=r"gaps.csv, row 2, column 'b': missing value"):
        read_csv_features(gaps, 2)
    words = write(tmp_path / "words.csv", "a,b\n1,x\n")
    with pytest.raises(
        ValueError, match=r"words.csv, column 'b' holds text \('x', ...\); this model takes numbers"
    ):
        read_csv_features(words, 2)


def test_numbers_whose_missing_ones_are_marked_are_a_numeric_column(tmp_path, monkeypatch):
    monkeypatch.setattr(table_files_module, "CSV_BLOCK_BYTES", 64)  # the first block has no mark
    cells = [str(i % 7) for i in range(60)] + ["?", "2.5", " ? ", "--", "-", "."]
    lines = ["nuclei,word,y"] + [f"{cell},{'?' if i == 61 else 'w'},{i % 2}" for i, cell in enumerate(cells)]
    path = write(tmp_path / "uci.csv", "\n".join(lines) + "\n")
    table = read_csv(path)
    # pandas, told which cells are missing, reads the same numbers
    expected = pd.read_csv(path, na_values=["?", " ? ", "--", "-", "."], keep_default_na=False)["nuclei"]
    assert table.X.column("nuclei").is_numeric
    assert values(table.X, "nuclei") == [None if np.isnan(v) else v for v in expected]
    assert values(table.X, "word")[61] == "?" and not table.X.column("word").is_numeric  # words stay text
    assert values(read_csv(path, categorical=["nuclei"]).X, "nuclei")[60] == "?"  # asked for as text


def test_numbers_written_with_currency_thousands_and_percent_signs_are_numbers(tmp_path):
    rng = np.random.default_rng(0)
    amounts, shares = rng.uniform(-5000, 90000, 50), rng.uniform(0, 100, 50)
    frame = pd.DataFrame(
        {
            "price": [f"{'-' if v < 0 else ''}${abs(v):,.2f}" for v in amounts],
            "share": [f"{v:.1f}%" for v in shares],
            "count": [f"{int(v):,}" for v in np.abs(amounts)],
            "decimal_comma": [f"{v:.1f}".replace(".", ",") for v in shares],  # 1,5: not thousands
            "euro": [f"€{v:,.2f}".replace(",", " ").replace(".", ",") for v in np.abs(amounts)],
            "y": np.arange(50) % 2,
        }
    )
    path = tmp_path / "sheet.csv"
    frame.to_csv(path, index=False)
    table = read_csv(path)

    # pandas, told what the signs are, reads the same numbers
    def plain(column):
        return pd.to_numeric(frame[column].str.replace(r"[$,%]", "", regex=True))

    for column in ("price", "share", "count"):
        assert table.X.column(column).is_numeric
        np.testing.assert_allclose(table.X.column(column).values, plain(column))
    assert not table.X.column("decimal_comma").is_numeric  # "1,5" may mean 1.5: left as text
    assert not table.X.column("euro").is_numeric  # "€1 234,56": grouped by blanks, a decimal comma
    word = write(tmp_path / "word.csv", 'price,y\n"$1,000",0\nfree,1\n"$2,500.50",0\n')
    assert not read_csv(word).X.column("price").is_numeric  # a word among them keeps the column text


def test_a_file_without_a_header_line_is_refused_with_a_conversion_that_works(tmp_path):
    rows = "1000025,5,1,1,2\n1002945,5,4,4,2\n1015425,3,1,1,2\n1016277,6,8,8,4\n1017023,4,1,1,2\n"
    path = write(tmp_path / "wisconsin.data.csv", rows)
    with pytest.raises(
        ValueError, match=r"the first line holds numbers that repeat \(1000025, 5, 1, 1, \.\.\.\)"
    ):
        read_csv(path)
    heights = write(tmp_path / "heights.csv", "142.24,144.78,y\n1,0,a\n0,2,b\n")  # numbers as names
    assert read_csv(heights).X.names == ["142.24", "144.78"]
    # the message's pandas line gives the columns the numbers 0, 1, ...: a header this reader accepts
    pd.read_csv(path, header=None).to_csv(tmp_path / "named.csv", index=False)
    table = read_csv(tmp_path / "named.csv")
    assert table.X.names == ["0", "1", "2", "3"] and table.y.tolist() == [2, 2, 2, 4, 2]
    assert values(table.X, "0")[0] == 1000025
