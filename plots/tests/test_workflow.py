"""The CI recipe for users (.github/workflows/ipcbench.yml) runs what the README says, with
scripts that exist, and keeps the report folder those scripts write."""

import os
import re
import unittest

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(REPO, ".github", "workflows", "ipcbench.yml")


class Workflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(WORKFLOW, encoding="utf-8") as f:
            cls.doc = yaml.safe_load(f)
        (cls.job,) = cls.doc["jobs"].values()
        cls.runs = [s["run"] for s in cls.job["steps"] if "run" in s]

    def test_runs_on_debian_12(self):
        self.assertEqual(self.job["container"], "debian:12")

    def test_installs_with_the_script_and_runs_the_quick_profile(self):
        scripts = re.findall(r"scripts/[\w.-]+", "\n".join(self.runs))
        self.assertIn("scripts/install-deps.sh", scripts)
        self.assertIn("scripts/run-suite.sh", scripts)
        for script in scripts:
            self.assertTrue(os.path.isfile(os.path.join(REPO, script)), script)
        self.assertTrue(any("scripts/run-suite.sh --quick --out report" in r for r in self.runs))

    def test_keeps_the_report_folder_as_an_artifact(self):
        upload = [s for s in self.job["steps"]
                  if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
        self.assertEqual(len(upload), 1)
        self.assertEqual(upload[0]["with"]["path"], "report/")
        self.assertEqual(upload[0]["if"], "always()")


if __name__ == "__main__":
    unittest.main()
