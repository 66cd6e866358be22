"""Lexicons every suite may name in its templates without listing them (a suite's own ``lexicons`` of the
same name replace them)."""

BUILT_IN: dict[str, tuple[str, ...]] = {
    "first_name": ("Anna", "John", "Maria", "David", "Fatima", "Wei", "Olga", "Carlos", "Aisha", "Thomas", "Yuki",
                   "Pierre", "Grace", "Ahmed", "Laura", "Kenji", "Sofia", "Michael", "Priya", "Lars"),
    "last_name": ("Smith", "Garcia", "Müller", "Chen", "Okafor", "Kowalski", "Rossi", "Tanaka", "Johnson",
                  "Ivanova", "Haddad", "Martin", "Nguyen", "Larsen", "Patel", "Brown"),
    "city": ("Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Cairo", "Lagos", "Sydney", "Toronto",
             "Chicago", "Mumbai", "Lima", "Oslo", "Vienna", "Seoul"),
    "country": ("France", "Germany", "Spain", "Italy", "Japan", "Egypt", "Nigeria", "Australia", "Canada",
                "Brazil", "India", "Peru", "Norway", "Austria", "Kenya", "Mexico"),
    "number": ("2", "3", "4", "5", "7", "9", "12", "15", "20", "25", "40", "60", "100", "250"),
}
