"""The human rating study: do people see the emotion in generated faces, and can they tell them from real ones?

`python -m fer.study create|invite|serve|report` (fer/study/__main__.py). A study is one folder:

    study.sqlite      items (blind id, real or generated, class, subject), raters (hashed link tokens), each
                      rater's order of faces, their answers, browser sessions; SQLite in WAL mode (fer/study/db.py)
    images/<id>.png   the faces, all cropped and re-encoded alike, named by a random blind id
    manifest.json     what was picked from where (the origin of each blind id), and the study's settings
    report/           what `report` writes (fer/study/analysis.py)

The web app (fer/study/app.py) serves one face at a time to a rater who opened their personal link.
"""
