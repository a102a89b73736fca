"""Held-out inputs for accuracy tests: not in the calibration set (compiler/calibration.py) nor
in the built-in texts (encore/inputs.py), and never used to tune quantization. Short (1 to 4
tokens) and long inputs, mixed domains."""

HELDOUT_TEXTS = [
    "no",
    "why?",
    "Thanks a lot!",
    "sure",
    "maybe later",
    "Great job",
    "what?",
    "Goodbye.",
    "not bad",
    "hi there",
    "Stop!",
    "I agree",
    "seriously?",
    "Happy birthday!",
    "Paris",
    "404",
    "The train was late again this morning.",
    "Can you send me the report by Friday?",
    "My phone battery dies before lunch every day.",
    "The soup needs more salt and a little pepper.",
    "Our neighbours adopted a small grey kitten last week.",
    "Turn left at the second traffic light, then park behind the bakery.",
    "The referee stopped the match after a heavy thunderstorm.",
    "Unemployment fell to its lowest level in a decade.",
    "He forgot his umbrella and got soaked on the way home.",
    "The violinist tuned her instrument before the concert began.",
    "Please restart the router and try connecting again.",
    "A fox crossed the empty road at midnight.",
    "The bakery sells fresh croissants until ten o'clock.",
    "Scientists discovered a new species of frog in the rainforest.",
    "I need to renew my passport before the summer holidays.",
    "The meeting has been moved to room 204 on the third floor.",
    "Which team won the championship in 1998?",
    "The river flooded the fields after a week of rain.",
    "She painted the fence bright yellow to annoy her brother.",
    "The server crashed because the disk was full.",
    "Dolphins communicate with clicks, whistles and body language.",
    "Remember to water the tomatoes twice a week in July.",
    "Das Wetter ist heute schön und sonnig.",
    "The spacecraft entered orbit around Jupiter after a five-year journey.",
    "Long-distance running improves cardiovascular health, but training too hard without enough "
    "rest can lead to injuries such as stress fractures, shin splints and inflamed tendons, so "
    "coaches recommend increasing the weekly distance by no more than ten percent at a time.",
    "The city council approved a plan to plant ten thousand trees along the main avenues over the "
    "next five years, hoping to reduce summer temperatures, absorb rainwater and give residents "
    "more shade on their daily walks to work and school.",
    "When the old factory closed, the town lost nearly a third of its jobs, and many families "
    "moved away; twenty years later, artists and small start-ups have turned the empty halls "
    "into studios, workshops and a weekend market.",
    "To install the package, download the archive, unpack it into a new folder, open a terminal "
    "there and run the setup script; if it complains about missing libraries, install them with "
    "your system's package manager first.",
    "ok thanks",
    "never mind",
    "Lunch?",
    "well done",
]
