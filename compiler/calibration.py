"""Calibration inputs: fixed sample texts for models with a tokenizer (optionally plus seeded
random short requests), seeded random token ids otherwise. They are not the evaluation inputs of
`encore run`, and a test keeps them disjoint from every list that measures accuracy
(tests/test_calibration_texts.py).

The texts: the 64 SENTENCES (padded to the longest), then, one batch per token length with no
padding, the natural short PHRASES (1 to 5 words) and the EVERYDAY sentences. The 64 sentences
alone give about 1,000 tokens, fewer than the FFN's 1,536-wide second input, so GPTQ's Hessian
for FFN2 was rank-deficient and its rounding error landed in directions short inputs use; with
the phrases and everyday sentences the held-out min cosine rose from 0.9761 to 0.9848
(docs/architecture.md "Short inputs").

Random short requests (``short`` > 0; 1 to 4 random vocabulary words, some with "?", "!" or
"."; measured before the natural texts): 1,500 of them (about 7,700 tokens) lifted the min cosine
of a development list of short inputs but lowered the min of the built-in and of the held-out
lists, so the default is none.

They depend only on the model (its tokenizer, vocabulary and positions), never on the batch or
the sequence length a program is compiled for: the same sentence gets the same integer constants,
hence bit-identical outputs, alone or in any batch (docs/architecture.md "Numerics").
"""

from __future__ import annotations

import numpy as np

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Machine learning accelerators trade flexibility for efficiency.",
    "What time does the train to Edinburgh leave tomorrow morning?",
    "She sold 42 paintings in 2019, more than in the previous five years combined!",
    "Quantum computers may one day factor large integers efficiently.",
    "I can't believe it's already November; the year went by so fast.",
    "Add two cups of flour, a pinch of salt and 250 ml of warm water, then knead for ten minutes.",
    "The patient reported mild headaches, dizziness and occasional nausea after the treatment.",
    "Stock markets fell sharply on Tuesday as investors worried about rising interest rates.",
    "A transformer encoder maps a sequence of tokens to a sequence of contextual vectors, "
    "which downstream tasks such as retrieval, classification and tagging then consume.",
    "hello",
    "Is this the real life? Is this just fantasy?",
    "The committee will review all applications received before 5 p.m. on March 3rd.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Our team of twelve engineers shipped version 3.1 with 87 bug fixes.",
    "Where can I find a good vegetarian restaurant near the central station?",
    "yes",
    "Thanks!",
    "good morning",
    "Der Zug nach Berlin hat zehn Minuten Verspätung.",
    "NASA launched the Artemis I mission in November 2022.",
    "lol",
    "Please call me back at 555-0199.",
    "Neural networks learn representations from data.",
    "The museum reopens on Saturday after a two-year renovation of its east wing.",
    "Can you recommend a laptop under $800 that is good for programming?",
    "Heavy rain is expected across the north-west, with flooding possible in low-lying areas.",
    "He scored 3 goals in the final 15 minutes, turning a 2-0 deficit into a 3-2 win.",
    "The recipe calls for fresh basil, garlic, pine nuts, parmesan and olive oil.",
    "Why is the sky blue during the day but red at sunset?",
    "OK",
    "no way",
    "Battery life: 10 hours. Weight: 1.2 kg. Price: 999 EUR.",
    "The defendant pleaded not guilty to all charges on Monday.",
    "Our quarterly revenue grew by 12.5% year over year, driven mainly by cloud services.",
    "The mitochondria is often called the powerhouse of the cell.",
    "I'm looking for a quiet place to study near the university library.",
    "Click 'Save' to keep your changes, or 'Cancel' to discard them.",
    "The orchestra performed Beethoven's Ninth Symphony to a sold-out audience.",
    "Symptoms include fever, cough, fatigue and loss of taste or smell.",
    "Tokyo, Paris and New York are among the most visited cities in the world.",
    "The new bridge is 1,400 metres long and took six years to build.",
    "WARNING: do not operate heavy machinery after taking this medication.",
    "My flight was delayed by three hours, so I missed the connection in Frankfurt.",
    "Researchers at the lab sequenced the genome of a rare deep-sea fish.",
    "How many calories are in a medium-sized banana?",
    "The printer on the second floor is out of toner again.",
    "Climate change is causing glaciers to retreat faster than scientists predicted.",
    "Please find attached the signed contract and the invoice for October.",
    "The cat knocked a glass of water off the table and ran away.",
    "In 1969, Apollo 11 landed the first humans on the Moon.",
    "Electric cars are becoming cheaper as battery prices continue to fall.",
    "The library will be closed on public holidays, including December 25 and January 1.",
    "Which programming language should I learn first: Python or JavaScript?",
    "After years of negotiation, the two countries signed a trade agreement that removes "
    "tariffs on most agricultural products, although critics argue that small farmers on both "
    "sides of the border will struggle to compete with large industrial producers.",
    "The algorithm sorts the list in O(n log n) time and uses O(1) extra memory.",
    "thank you so much for your help yesterday",
    "Mix the yoghurt with honey, then top it with berries and granola.",
    "A rainbow appears when sunlight is refracted, reflected and dispersed in water droplets.",
    "Our support team is available 24/7 via chat, e-mail or phone.",
    "The hikers reached the summit just before the storm rolled in from the west.",
    "Vaccines train the immune system to recognise a pathogen without causing the disease.",
    "Is it possible to cancel my subscription and get a refund?",
    "The old lighthouse has guided ships along this rocky coast since 1874, and although it is "
    "now fully automated, volunteers still give tours every summer weekend.",
]


#: Natural short requests (1 to 5 words): greetings, answers, questions, commands, names and
#: numbers, as served traffic has them. Written for calibration; none is in an evaluation list.
PHRASES = [
    "good afternoon", "see you later", "not now", "absolutely", "of course",
    "why not", "sounds good", "great idea", "I disagree", "no problem", "excuse me",
    "pardon?", "come in", "go away", "hurry up", "slow down", "be careful", "watch out",
    "try again", "well played", "congratulations", "good luck", "take care", "get well soon",
    "happy new year", "merry Christmas", "bon appetit", "how much?", "how many?", "when?",
    "where?", "who?", "which one?", "what now?", "is it true?", "are you sure?", "really sorry",
    "my bad", "oops", "ouch", "yay!", "hooray", "awesome", "terrible", "boring", "amazing",
    "pretty good", "so so", "too expensive", "very cheap", "open now?", "closed today",
    "sold out", "in stock", "out of order", "call me", "text me", "email me", "send it",
    "print this", "delete it", "save changes", "log in", "sign up", "forgot password",
    "reset my password", "track my order", "cancel order", "refund please", "order status",
    "shipping cost", "delivery time", "opening hours", "parking nearby", "table for two",
    "check please", "more coffee", "no sugar", "extra cheese", "two tickets", "one way",
    "return ticket", "window seat", "next train", "bus schedule", "weather tomorrow",
    "rain today?", "too hot", "freezing cold", "turn left", "go straight", "second floor",
    "room 204", "page 12", "chapter three", "version 2", "error 404", "battery low",
    "wifi password", "not working", "it works", "fixed it", "good job", "nice work", "keep going",
    "almost done", "all done", "start over", "what happened?", "tell me more", "show me",
    "explain please", "any questions?", "got it", "makes sense", "no idea", "I forgot",
    "I remember", "I know", "I don't know", "I love you", "miss you", "hug", "farewell",
    "welcome", "hey", "howdy", "sup", "yo", "okay", "fine thanks",
    "thank you", "many thanks", "you're welcome", "nice to meet you", "long time no see",
    "how are you?", "what's new?", "how was it?", "same here", "me neither", "good point",
    "fair enough", "not really", "kind of", "exactly", "definitely", "probably", "never", "always",
    "sometimes", "rarely", "soon", "tomorrow", "yesterday", "tonight", "next week", "last year",
    "Monday morning", "Friday night", "weekend plans", "coffee break", "lunch time",
    "dinner ready", "bed time", "wake up", "Berlin", "Tokyo", "Canada", "Brazil", "pizza",
    "sushi", "chocolate", "football", "tennis", "music", "movies", "books", "cats", "dogs",
    "the news", "my phone", "your car", "their house", "our team", "this one", "that one",
    "the other", "none", "all of them", "42", "3.14", "100%", "$20", "10 kg", "5 km", "2 pm",
    "7:30", "June 5", "1999",
]

#: Everyday sentences, a second set beside SENTENCES (more calibration tokens than FFN2's width).
EVERYDAY = [
    "The meeting has been moved to Thursday afternoon.",
    "Could you send me the report by the end of the day?", "I left my keys in the car again.",
    "The children played in the park until it got dark.", "Our new office is close to the river.",
    "The soup needs a little more salt.", "He runs five kilometres every morning before work.",
    "The train was crowded, so we stood the whole way.",
    "Please turn off the lights when you leave the room.",
    "My grandmother grows tomatoes and beans in her garden.",
    "The concert starts at eight, but the doors open at seven.",
    "I have never seen so many stars in the sky.", "The software update fixed the login problem.",
    "We are out of milk and bread.", "She speaks three languages fluently.",
    "The hotel room had a beautiful view of the mountains.",
    "Traffic was terrible on the way home.", "The dog barked at the mail carrier.",
    "It took me an hour to find a parking space.", "The exam results will be published next week.",
    "Water boils at 100 degrees Celsius at sea level.",
    "The shop on the corner sells fresh flowers.",
    "I would like to book a table for four at seven.", "Do you know where the nearest bank is?",
    "The baby finally fell asleep after midnight.", "They painted the kitchen a bright yellow.",
    "The film was longer than I expected, but worth it.",
    "Our flight lands in Madrid at half past nine.",
    "I need to renew my passport before the trip.",
    "The river flooded the fields after the storm.", "Can I pay by card, or only in cash?",
    "The teacher explained the problem again, more slowly.",
    "This jacket is too small; do you have a larger size?",
    "The coffee machine on the third floor is broken.", "He forgot his umbrella and got soaked.",
    "The city plans to build a new bike lane downtown.",
    "Remember to water the plants while I am away.",
    "The password must contain at least eight characters.",
    "The game was cancelled because of the snow.", "My laptop battery only lasts two hours now.",
    "The bakery opens at six every morning.", "We watched the sunrise from the top of the hill.",
    "Is breakfast included in the price of the room?",
    "The package should arrive within three working days.",
    "She laughed so hard that she started crying.",
    "The lecture covered the history of ancient Rome.",
    "Please keep your seatbelt fastened during the flight.",
    "The soup was cold by the time it reached our table.",
    "I can't hear you; the connection is bad.",
    "The farmers market is busiest on Saturday mornings.",
]


#: Short requests in the default calibration set (none: see the module doc), the number the
#: measurements of docs/architecture.md "Short inputs" used, their seed and vocabulary size.
SHORT_REQUESTS = 0
SHORT_STUDY = 1500
SHORT_SEED = 7
SHORT_VOCAB = 6000
_PUNCT = ("", "", "?", "!", ".")


def vocabulary_words(tokenizer, limit: int = SHORT_VOCAB) -> list[str]:
    """The first ``limit`` whole-word vocabulary entries (lowercase letters, 2+ characters,
    in vocabulary order; a word-start marker of BPE / SentencePiece vocabularies stripped)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    words = []
    for tok, _ in vocab:
        w = tok[1:] if tok[:1] in ("\u0120", "\u2581") else tok
        if len(w) >= 2 and w.isascii() and w.isalpha() and w.islower():
            words.append(w)
            if len(words) == limit:
                break
    return words


def short_requests(tokenizer, n: int, seed: int = SHORT_SEED) -> list[str]:
    """``n`` seeded requests of 1 to 4 random vocabulary words, a quarter with "?", "!" or "."
    (only their tokens matter: calibration needs the activations of short inputs, not sense)."""
    words = vocabulary_words(tokenizer)
    if not words:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        out.append(" ".join(rng.choice(words, k)) + _PUNCT[int(rng.integers(0, len(_PUNCT)))])
    return out


def _by_length(tokenizer, texts: list[str], seq: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One (ids, mask) batch per token length, no padding."""
    groups: dict[int, list[list[int]]] = {}
    for t in texts:
        ids = tokenizer(t, truncation=True, max_length=seq)["input_ids"]
        groups.setdefault(len(ids), []).append(ids)
    return [(np.array(v, dtype=np.int64), np.ones((len(v), n), dtype=np.int64))
            for n, v in sorted(groups.items())]


#: Longest calibration sequence (random ids; sentences are shorter): the model's positions cap it.
CALIB_SEQ = 128


def calibration_inputs(tokenizer, vocab_size: int, max_seq: int, pad_id: int,
                       n: int = 8, seed: int = 1234,
                       short: int = SHORT_REQUESTS, natural: bool = True
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids, mask) int64 batches [rows, <= CALIB_SEQ]: with a tokenizer, the sentences (padded
    only to the longest of them), then (one batch per token length, no padding) the natural
    PHRASES and EVERYDAY sentences unless ``natural`` is False, and ``short`` random short
    requests; else one
    batch of ``n`` random sequences. ``max_seq`` is the model's number of positions, not a
    program's length."""
    seq = min(CALIB_SEQ, max_seq)
    if tokenizer is not None:
        enc = tokenizer(SENTENCES, padding="longest", truncation=True, max_length=seq,
                        return_tensors="np")
        first = (enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64))
        extra = (PHRASES + EVERYDAY if natural else []) + short_requests(tokenizer, short)
        return [first] + _by_length(tokenizer, extra, seq)
    # Lengths from one token to the longest: a short sequence's attention output averages few
    # values, so its range is wider than a long one's (measured: 4 random sequences of >= seq/4
    # tokens saturated 4.5 % of the attention outputs of 1-24-token inputs).
    lengths = sorted({seq, 1, 2, 3, 5, 8, max(1, seq // 4), max(1, seq // 2)}, reverse=True)
    n = max(n, len(lengths))
    rng = np.random.default_rng(seed)
    ids = rng.integers(min(1000, vocab_size // 2), vocab_size, size=(n, seq))
    mask = np.ones((n, seq), dtype=np.int64)
    for i in range(n):
        length = lengths[i] if i < len(lengths) else int(rng.integers(1, seq + 1))
        mask[i, length:] = 0
        ids[i, length:] = pad_id
    return [(ids.astype(np.int64), mask)]
