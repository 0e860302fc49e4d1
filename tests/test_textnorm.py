from pipeline import textnorm


def test_to_simplified_converts_traditional():
    assert textnorm.to_simplified("我們已經報警了") == "我们已经报警了"
    assert textnorm.to_simplified("hello") == "hello"


def test_is_simplified():
    assert textnorm.is_simplified("你这个老赖")
    assert not textnorm.is_simplified("你這個老賴")


def test_fold_full_width_and_case():
    assert textnorm.fold("ＡＢＣ，１２３") == "abc,123"


def test_search_index_text_spaces_each_chinese_character_only():
    assert textnorm.search_index_text("你这个老赖 call Employer") == "你 这 个 老 赖 call employer"


def test_search_query_is_a_phrase_and_neutralises_operators():
    assert textnorm.search_query("老赖") == '"老 赖"'
    assert textnorm.search_query('boss" OR x') == '"boss" "or" "x"'
    assert textnorm.search_query("   ") == '""'
