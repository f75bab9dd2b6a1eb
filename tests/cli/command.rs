//! Command mode, as `AWS-RunRemoteScript` runs a command line.

use crate::harness::{error_type, run_json, script_dir};

fn complex_script() -> tempfile::TempDir {
    script_dir(&[
        (
            "mainFile.py",
            "import sys, runpy, os\nimport helper\nprint('name', __name__)\nprint('argv', sys.argv)\nprint('cwd', os.getcwd())\nprint(helper.shout('hi'))\nrunpy.run_path('other.py', run_name='__main__')\ncode = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0\nsys.exit(code)\n",
        ),
        ("helper.py", "def shout(s):\n    return s.upper()\n"),
        ("other.py", "print('other ran as', __name__)\n"),
    ])
}

#[test]
fn command_line_sets_argv_main_and_working_folder() {
    let dir = complex_script();
    let run = run_json(
        &[
            dir.path().to_str().unwrap(),
            "--command-line",
            "mainFile.py argument-1 'argument 2'",
        ],
        None,
    );
    assert_eq!(run.result["status"], "success", "{}", run.result);
    assert_eq!(run.result["exit_code"], 0);
    assert_eq!(
        run.result["stdout"],
        "name __main__\nargv ['mainFile.py', 'argument-1', 'argument 2']\ncwd /script\nHI\nother ran as __main__\n"
    );
    assert!(run.result["payload"].is_null());
}

#[test]
fn exit_code_comes_from_system_exit() {
    let dir = complex_script();
    let run = run_json(
        &[
            dir.path().to_str().unwrap(),
            "--command-line",
            "mainFile.py 3",
        ],
        None,
    );
    assert_eq!(run.result["status"], "failed");
    assert_eq!(run.result["exit_code"], 3);
    assert_eq!(run.code, 1);
}

#[test]
fn uncaught_exception_exits_1_with_the_traceback_on_stderr() {
    let dir = script_dir(&[(
        "main.py",
        "print('partial')\nraise ValueError('bad input')\n",
    )]);
    let run = run_json(
        &[dir.path().to_str().unwrap(), "--command-line", "main.py"],
        None,
    );
    assert_eq!(run.result["exit_code"], 1);
    assert_eq!(error_type(&run.result), "ValueError");
    assert_eq!(run.result["stdout"], "partial\n");
    let stderr = run.result["stderr"].as_str().unwrap();
    assert!(stderr.contains("ValueError: bad input"), "{stderr}");
    assert!(stderr.contains("/script/main.py\", line 2"), "{stderr}");
}

#[test]
fn a_single_file_without_handler_runs_as_main() {
    let dir = script_dir(&[(
        "hello.py",
        "if __name__ == '__main__':\n    print('main!')\n",
    )]);
    let run = run_json(&[dir.path().join("hello.py").to_str().unwrap()], None);
    assert_eq!(run.result["stdout"], "main!\n", "{}", run.result);
    assert_eq!(run.result["exit_code"], 0);
}

#[test]
fn a_single_file_does_not_see_its_siblings() {
    let dir = script_dir(&[
        ("main.py", "import os\nprint(sorted(os.listdir('.')))\n"),
        ("secret.txt", "do not read"),
    ]);
    let run = run_json(&[dir.path().join("main.py").to_str().unwrap()], None);
    assert_eq!(run.result["stdout"], "['main.py']\n");
}

#[test]
fn string_system_exit_goes_to_stderr_with_status_1() {
    let run = crate::harness::run_script("import sys\nsys.exit('fatal: no config')\n", &[]);
    assert_eq!(run.result["exit_code"], 1);
    assert_eq!(run.result["stderr"], "fatal: no config\n");
}

#[test]
fn a_folder_with_dunder_main_runs_it() {
    let dir = script_dir(&[("__main__.py", "print('package main')\n")]);
    let run = run_json(&[dir.path().to_str().unwrap()], None);
    assert_eq!(run.result["stdout"], "package main\n", "{}", run.result);
}
