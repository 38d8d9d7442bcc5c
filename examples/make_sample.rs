//! Writes `master_data/sample_onboarding.xlsx`, the sample flow built into the
//! binary: a health app's onboarding in Japanese with campaign branches, an
//! A/B group, answer-based branching and every input kind.
//!
//! Run: `cargo run --example make_sample`

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

const SCENE_HEADER: [&str; 13] = [
    "step",
    "scene",
    "condition",
    "weight",
    "message_1",
    "message_2",
    "message_3",
    "input",
    "save_as",
    "min",
    "max",
    "placeholder",
    "next_step",
];

#[rustfmt::skip]
const SCENES: &[[&str; 13]] = &[
    ["welcome", "welcome_diet", "from_diet_campaign", "", "ダイエットキャンペーンから来てくれたんですね!", "{{nickname|あなた}}の「やせたい」を、今日から一緒にかなえましょう。", "", "none", "", "", "", "", ""],
    ["welcome", "welcome_sleep", "from_sleep_campaign", "", "睡眠キャンペーンからようこそ!", "ぐっすり眠れる毎日を、一緒に作っていきましょう。", "", "none", "", "", "", "", ""],
    ["welcome", "welcome_default", "", "", "ダウンロードありがとうございます!", "あなた専用の健康プランを作るために、いくつか質問させてください。", "", "none", "", "", "", "", ""],
    ["intro", "intro_coach", "", "1", "はじめまして、AIコーチのミナです。", "1分ほどで終わる質問に答えてくださいね。", "", "none", "", "", "", "", ""],
    ["intro", "intro_friendly", "", "1", "こんにちは!ミナだよ。", "かんたんな質問にいくつか答えてね。すぐ終わるよ!", "", "none", "", "", "", "", ""],
    ["nickname", "nickname_known", "has_nickname", "", "{{nickname}}さんとお呼びしますね。", "", "", "none", "", "", "", "", ""],
    ["nickname", "nickname_ask", "", "", "まず、なんとお呼びすればいいですか?", "", "", "text", "nickname", "1", "20", "ニックネーム", ""],
    ["goal", "goal_diet", "from_diet_campaign", "", "{{nickname|あなた}}さん、いちばんの目標を教えてください。", "キャンペーン参加の方には体重管理がおすすめです。", "", "choice", "goal", "", "", "", ""],
    ["goal", "goal_default", "", "", "{{nickname|あなた}}さん、いちばんの目標はどれですか?", "", "", "choice", "goal", "", "", "", ""],
    ["current_weight", "current_weight", "", "", "いまの体重を教えてください。", "目標までの道のりを計算します。", "", "number", "weight_kg", "30", "200", "例: 62.5", ""],
    ["target_date", "target_date", "", "", "{{weight_kg}}kgからのスタートですね。", "いつまでに目標を達成したいですか?", "", "date", "target_date", "2026-01-01", "2030-12-31", "YYYY-MM-DD", "interests"],
    ["sleep_hours", "sleep_hours", "", "", "ふだん、一晩に何時間くらい眠っていますか?", "", "", "number", "sleep_hours", "0", "24", "例: 6", "interests"],
    ["meals", "meals", "", "", "食生活で気になることを選んでください(3つまで)。", "", "", "multi_choice", "meal_issues", "1", "3", "", "interests"],
    ["interests", "interests", "", "", "興味のあるものを選んでください(3つまで)。", "おすすめのコンテンツに使います。", "", "multi_choice", "interests", "1", "3", "", ""],
    ["birth_year", "birth_year_ask", "", "", "最後に、生まれた年を教えてください。", "年代に合ったプランを提案します。", "", "number", "birth_year", "1920", "2015", "例: 1990", ""],
    ["plan", "plan_premium", "premium_member", "", "{{nickname|あなた}}さん、プレミアム会員ありがとうございます!", "パーソナルコーチ付きのプランをご用意しました。", "", "choice", "plan_start", "", "", "", ""],
    ["plan", "plan_lose_weight", "goal_lose_weight", "", "{{target_date|目標日}}までのダイエットプランができました!", "毎日の食事と歩数から始めましょう。", "", "choice", "plan_start", "", "", "", ""],
    ["plan", "plan_default", "", "", "{{nickname|あなた}}さんのためのプランができました!", "さっそく始めますか?", "", "choice", "plan_start", "", "", "", ""],
];

const CHOICE_HEADER: [&str; 5] = ["scene", "choice", "label", "value", "next_step"];

#[rustfmt::skip]
const CHOICES: &[[&str; 5]] = &[
    ["goal_diet", "lose_weight", "やせたい", "", "current_weight"],
    ["goal_diet", "sleep_better", "よく眠りたい", "", "sleep_hours"],
    ["goal_diet", "eat_healthier", "食生活を整えたい", "", "meals"],
    ["goal_default", "lose_weight", "やせたい", "", "current_weight"],
    ["goal_default", "sleep_better", "よく眠りたい", "", "sleep_hours"],
    ["goal_default", "eat_healthier", "食生活を整えたい", "", "meals"],
    ["meals", "skip_breakfast", "朝食をぬきがち", "", ""],
    ["meals", "late_dinner", "夕食が遅い", "", ""],
    ["meals", "snacks", "間食が多い", "", ""],
    ["meals", "eating_out", "外食が多い", "", ""],
    ["interests", "walking", "ウォーキング", "", ""],
    ["interests", "yoga", "ヨガ・ストレッチ", "", ""],
    ["interests", "recipes", "ヘルシーレシピ", "", ""],
    ["interests", "sleep_sounds", "睡眠サウンド", "", ""],
    ["plan_premium", "start_now", "今すぐ始める", "yes", "END"],
    ["plan_premium", "later", "あとで", "no", "END"],
    ["plan_lose_weight", "start_now", "今すぐ始める", "yes", "END"],
    ["plan_lose_weight", "later", "あとで", "no", "END"],
    ["plan_default", "start_now", "今すぐ始める", "yes", "END"],
    ["plan_default", "later", "あとで", "no", "END"],
];

fn write_rows(
    sheet: &mut rust_xlsxwriter::Worksheet,
    header: &[&str],
    rows: &[&[&str]],
    numeric: &[&str],
) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    for (c, name) in header.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            let (r, c) = (r as u32 + 1, c as u16);
            match value.parse::<f64>() {
                Ok(n) if numeric.contains(&header[c as usize]) => sheet.write_number(r, c, n)?,
                _ => sheet.write_string(r, c, *value)?,
            };
        }
    }
    sheet.autofit();
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn main() -> Result<(), XlsxError> {
    let mut book = Workbook::new();
    // A fixed creation time keeps the file, and so its version id, reproducible.
    let created = ExcelDateTime::from_ymd(2026, 11, 24)?;
    book.set_properties(
        &DocProperties::new()
            .set_title("sceneflow sample onboarding")
            .set_creation_datetime(&created),
    );
    let scenes: Vec<&[&str]> = SCENES.iter().map(|r| r.as_slice()).collect();
    write_rows(
        book.add_worksheet().set_name("scenes")?,
        &SCENE_HEADER,
        &scenes,
        &["weight", "min", "max"],
    )?;
    let choices: Vec<&[&str]> = CHOICES.iter().map(|r| r.as_slice()).collect();
    write_rows(
        book.add_worksheet().set_name("choices")?,
        &CHOICE_HEADER,
        &choices,
        &[],
    )?;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("master_data/sample_onboarding.xlsx");
    book.save(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}
