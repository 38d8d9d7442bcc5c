//! Workbooks for tests, written by rust_xlsxwriter: a small valid flow and
//! ways to break it one cell at a time.

use rust_xlsxwriter::Workbook;

#[derive(Clone, Debug)]
pub struct Book {
    pub sheets: Vec<(String, Vec<Vec<String>>)>,
}

pub const SCENE_HEADER: [&str; 12] = [
    "step",
    "scene",
    "condition",
    "weight",
    "message_1",
    "message_2",
    "input",
    "save_as",
    "min",
    "max",
    "placeholder",
    "next_step",
];

/// A valid flow: welcome → goal (choice) → name (text) → done.
pub fn valid() -> Book {
    let scenes = vec![
        SCENE_HEADER.to_vec(),
        vec![
            "welcome",
            "welcome",
            "",
            "",
            "ようこそ!",
            "",
            "none",
            "",
            "",
            "",
            "",
            "",
        ],
        vec![
            "goal",
            "goal_question",
            "",
            "",
            "目標は何ですか?",
            "",
            "choice",
            "goal",
            "",
            "",
            "",
            "",
        ],
        vec![
            "name",
            "name_ask",
            "",
            "",
            "お名前は?",
            "",
            "text",
            "nickname",
            "#1",
            "#20",
            "ニックネーム",
            "",
        ],
        vec![
            "done",
            "done",
            "",
            "",
            "{{nickname|ゲスト}}さん、ありがとう!",
            "",
            "none",
            "",
            "",
            "",
            "",
            "END",
        ],
    ];
    let choices = vec![
        vec!["scene", "choice", "label", "value", "next_step"],
        vec!["goal_question", "lose_weight", "やせたい", "", ""],
        vec!["goal_question", "sleep_better", "よく眠りたい", "", "done"],
    ];
    Book::new()
        .sheet("scenes", scenes)
        .sheet("choices", choices)
}

/// The valid flow's shape with a complete `en` translation besides the
/// default (Japanese); `goal_question` has `back` = `no`.
pub fn translated() -> Book {
    Book::new()
        .sheet(
            "scenes",
            vec![
                vec![
                    "step",
                    "scene",
                    "message_1",
                    "message_1::en",
                    "message_2",
                    "message_2::en",
                    "input",
                    "save_as",
                    "placeholder",
                    "placeholder::en",
                    "next_step",
                    "back",
                ],
                vec![
                    "welcome",
                    "welcome",
                    "ようこそ!",
                    "Welcome!",
                    "はじめましょう",
                    "Let's start",
                    "none",
                    "",
                    "",
                    "",
                    "",
                    "",
                ],
                vec![
                    "name",
                    "name_ask",
                    "お名前は?",
                    "Your name?",
                    "",
                    "",
                    "text",
                    "nickname",
                    "ニックネーム",
                    "Nickname",
                    "",
                    "",
                ],
                vec![
                    "goal",
                    "goal_question",
                    "{{nickname|ゲスト}}さん、目標は?",
                    "{{nickname|guest}}, your goal?",
                    "",
                    "",
                    "choice",
                    "goal",
                    "",
                    "",
                    "",
                    "no",
                ],
                vec![
                    "done",
                    "done",
                    "ありがとう!",
                    "Thanks!",
                    "",
                    "",
                    "none",
                    "",
                    "",
                    "",
                    "END",
                    "yes",
                ],
            ],
        )
        .sheet(
            "choices",
            vec![
                vec!["scene", "choice", "label", "label::en"],
                vec!["goal_question", "lose_weight", "やせたい", "Lose weight"],
                vec![
                    "goal_question",
                    "sleep_better",
                    "よく眠りたい",
                    "Sleep better",
                ],
            ],
        )
}

impl Book {
    pub fn new() -> Book {
        Book { sheets: Vec::new() }
    }

    /// Cells are text; `#2.5` is written as the number 2.5.
    pub fn sheet(mut self, name: &str, rows: Vec<Vec<&str>>) -> Book {
        self.sheets.push((
            name.to_owned(),
            rows.into_iter()
                .map(|r| r.into_iter().map(str::to_owned).collect())
                .collect(),
        ));
        self
    }

    fn rows_mut(&mut self, sheet: &str) -> &mut Vec<Vec<String>> {
        &mut self
            .sheets
            .iter_mut()
            .find(|(n, _)| n == sheet)
            .expect("the sheet exists")
            .1
    }

    /// Set the cell in spreadsheet row `row` (header = 1) under the header `column`.
    pub fn set(mut self, sheet: &str, row: usize, column: &str, value: &str) -> Book {
        let rows = self.rows_mut(sheet);
        let col = rows[0]
            .iter()
            .position(|h| h == column)
            .expect("the column exists");
        while rows.len() < row {
            rows.push(Vec::new());
        }
        let cells = &mut rows[row - 1];
        if cells.len() <= col {
            cells.resize(col + 1, String::new());
        }
        cells[col] = value.to_owned();
        self
    }

    pub fn push(mut self, sheet: &str, row: Vec<&str>) -> Book {
        self.rows_mut(sheet)
            .push(row.into_iter().map(str::to_owned).collect());
        self
    }

    pub fn remove_row(mut self, sheet: &str, row: usize) -> Book {
        self.rows_mut(sheet).remove(row - 1);
        self
    }

    pub fn remove_sheet(mut self, sheet: &str) -> Book {
        self.sheets.retain(|(n, _)| n != sheet);
        self
    }

    pub fn rename_header(mut self, sheet: &str, from: &str, to: &str) -> Book {
        let rows = self.rows_mut(sheet);
        let col = rows[0]
            .iter()
            .position(|h| h == from)
            .expect("the column exists");
        rows[0][col] = to.to_owned();
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut book = Workbook::new();
        for (name, rows) in &self.sheets {
            let sheet = book
                .add_worksheet()
                .set_name(name)
                .expect("a valid sheet name");
            for (r, row) in rows.iter().enumerate() {
                for (c, value) in row.iter().enumerate() {
                    if value.is_empty() {
                        continue;
                    }
                    let (r, c) = (r as u32, c as u16);
                    match value.strip_prefix('#').and_then(|n| n.parse::<f64>().ok()) {
                        Some(n) => sheet.write_number(r, c, n).expect("write"),
                        None => sheet.write_string(r, c, value).expect("write"),
                    };
                }
            }
        }
        book.save_to_buffer().expect("save the workbook")
    }
}
