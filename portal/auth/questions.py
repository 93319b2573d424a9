"""The security questions an owner picks two of at sign-up (DOMAIN.md §1)."""

QUESTIONS = {
    "first_pet": "What was the name of your first pet?",
    "first_school": "What was the name of your first school?",
    "birth_city": "In which city were you born?",
    "mother_maiden": "What is your mother's maiden name?",
    "first_car": "What was the make of your first car?",
    "childhood_friend": "What was the first name of your childhood best friend?",
    "first_job": "What was the name of the company of your first job?",
    "favourite_teacher": "What was the last name of your favourite teacher?",
    "street_grew_up": "What is the name of the street you grew up on?",
    "honeymoon": "Where did you spend your honeymoon?",
}
