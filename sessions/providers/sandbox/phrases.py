"""The sandbox responder's words in the languages its catalog offers besides English
(English lives in ``responder``). Each language has every kind of reply ``responder``
picks from; a test holds every catalog language to that, so the catalog and the
responder cannot drift apart."""

from __future__ import annotations

#: Every kind of reply, by the name ``responder`` looks it up under.
KINDS = (
    "empty", "greeting", "thanks", "bye", "question", "generic_question", "statement",
    "generic_statement", "long", "closers",
)  # fmt: skip

FRENCH = {
    "empty": (
        "Je n’ai rien entendu. Pouvez-vous répéter ?",
        "Le message semble vide. De quoi voulez-vous parler ?",
    ),
    "greeting": (
        "Bonjour ! Ravi de vous rencontrer. De quoi voulez-vous parler ?",
        "Salut ! Je suis l’avatar du bac à sable. Posez-moi une question.",
        "Bonjour ! Je vais très bien, merci. Et vous ?",
    ),
    "thanks": ("Avec plaisir ! Autre chose ?", "De rien. Que voulez-vous savoir d’autre ?"),
    "bye": ("Au revoir ! C’était un plaisir.", "À bientôt ! Prenez soin de vous."),
    "question": (
        "Bonne question sur {topic}. Ici, je ne peux donner qu’une réponse simulée.",
        "Vous parlez de {topic}. Quel aspect vous intéresse le plus ?",
        "Ah, {topic} ! Réponse courte : oui, c’est possible. Vous voulez la version longue ?",
    ),
    "generic_question": (
        "Bonne question ! Qu’est-ce qui vous y a fait penser ?",
        "Hmm, laissez-moi réfléchir. Pouvez-vous m’en dire un peu plus ?",
    ),
    "statement": (
        "Parlez-moi encore de {topic}.",
        "{Topic}, intéressant ! Qu’est-ce qui vous plaît là-dedans ?",
        "Je vois, il s’agit de {topic}. Continuez.",
    ),
    "generic_statement": ("Je vois. Continuez, je vous écoute.", "Intéressant. Dites-m’en plus."),
    "long": (
        "Quel long message ! J’en retiens surtout {topic}. Quel est le point essentiel ?",
        "Merci pour ces détails. Il s’agit surtout de {topic}, n’est-ce pas ?",
    ),
    "closers": ("", "", " Autre chose ?", " Je vous écoute."),
}

GERMAN = {
    "empty": (
        "Ich habe nichts gehört. Können Sie das wiederholen?",
        "Die Nachricht scheint leer zu sein. Worüber möchten Sie sprechen?",
    ),
    "greeting": (
        "Hallo! Schön, Sie kennenzulernen. Worüber möchten Sie sprechen?",
        "Guten Tag! Ich bin der Sandbox-Avatar. Fragen Sie mich etwas.",
        "Hallo! Mir geht es gut, danke. Und Ihnen?",
    ),
    "thanks": ("Gern geschehen! Sonst noch etwas?", "Bitte sehr. Was möchten Sie noch wissen?"),
    "bye": ("Auf Wiedersehen! Es war schön, mit Ihnen zu sprechen.", "Bis bald! Machen Sie’s gut."),
    "question": (
        "Gute Frage zu {topic}. Hier kann ich nur eine simulierte Antwort geben.",
        "Sie fragen nach {topic}. Welcher Teil interessiert Sie am meisten?",
        "Ah, {topic}! Kurz gesagt: ja, das geht. Möchten Sie die lange Version?",
    ),
    "generic_question": (
        "Gute Frage! Wie sind Sie darauf gekommen?",
        "Hmm, lassen Sie mich nachdenken. Können Sie etwas mehr erzählen?",
    ),
    "statement": (
        "Erzählen Sie mir mehr über {topic}.",
        "{Topic}, interessant! Was gefällt Ihnen daran?",
        "Ich verstehe, es geht um {topic}. Weiter bitte.",
    ),
    "generic_statement": ("Ich verstehe. Erzählen Sie weiter.", "Interessant. Erzählen Sie mehr."),
    "long": (
        "Eine lange Nachricht! Im Kern geht es um {topic}. Was ist der wichtigste Punkt?",
        "Danke für die Details. Es geht wohl vor allem um {topic}.",
    ),
    "closers": ("", "", " Sonst noch etwas?", " Ich höre zu."),
}

SPANISH = {
    "empty": (
        "No he oído nada. ¿Puede repetirlo?",
        "El mensaje parece vacío. ¿De qué quiere hablar?",
    ),
    "greeting": (
        "¡Hola! Encantado de conocerle. ¿De qué quiere hablar?",
        "¡Buenas! Soy el avatar de pruebas. Pregúnteme lo que quiera.",
        "¡Hola! Estoy muy bien, gracias. ¿Y usted?",
    ),
    "thanks": ("¡De nada! ¿Algo más?", "Con mucho gusto. ¿Qué más quiere saber?"),
    "bye": ("¡Adiós! Ha sido un placer hablar con usted.", "¡Hasta pronto! Cuídese."),
    "question": (
        "Buena pregunta sobre {topic}. Aquí solo puedo dar una respuesta simulada.",
        "Pregunta por {topic}. ¿Qué parte le interesa más?",
        "¡Ah, {topic}! En breve: sí, se puede. ¿Quiere la versión larga?",
    ),
    "generic_question": (
        "¡Buena pregunta! ¿Qué le hizo pensar en ello?",
        "Mmm, déjeme pensar. ¿Puede contarme un poco más?",
    ),
    "statement": (
        "Cuénteme más sobre {topic}.",
        "¡{Topic}, qué interesante! ¿Qué le gusta de eso?",
        "Entiendo, se trata de {topic}. Siga, por favor.",
    ),
    "generic_statement": ("Entiendo. Siga, le escucho.", "Qué interesante. Cuénteme más."),
    "long": (
        "¡Qué mensaje tan largo! Lo principal parece ser {topic}. ¿Cuál es la idea clave?",
        "Gracias por los detalles. Se trata sobre todo de {topic}, ¿verdad?",
    ),
    "closers": ("", "", " ¿Algo más?", " Le escucho."),
}

JAPANESE = {
    "empty": (
        "よく聞こえませんでした。もう一度お願いします。",
        "メッセージが空のようです。何について話しましょうか？",
    ),
    "greeting": (
        "こんにちは！お会いできてうれしいです。何について話しましょうか？",
        "こんにちは！サンドボックスのアバターです。何でも聞いてください。",
    ),
    "thanks": (
        "どういたしまして！ほかに何かありますか？",
        "お役に立ててうれしいです。次は何にしましょう？",
    ),
    "bye": ("さようなら！お話しできて楽しかったです。", "またね！お元気で。"),
    "question": (
        "「{topic}」についての良い質問ですね。ここでは模擬的な答えしかできません。",
        "「{topic}」についてですね。どの部分に一番興味がありますか？",
    ),
    "generic_question": (
        "良い質問ですね！どうしてそう思ったのですか？",
        "うーん、もう少し詳しく教えてください。",
    ),
    "statement": (
        "「{topic}」について、もっと教えてください。",
        "「{topic}」ですか、面白いですね！どんなところが好きですか？",
    ),
    "generic_statement": ("なるほど。続けてください。", "面白いですね。もっと聞かせてください。"),
    "long": (
        "長いメッセージですね！要点は「{topic}」でしょうか。",
        "詳しくありがとうございます。主に「{topic}」の話ですね。",
    ),
    "closers": ("", "", "ほかに何かありますか？"),
}

BY_LANGUAGE = {"fr": FRENCH, "de": GERMAN, "es": SPANISH, "ja": JAPANESE}

# Each language's common words: they say nothing about the topic, and they tell which
# language a message was written in (English's are in ``responder``).
COMMON_WORDS = {
    "fr": {
        "le", "la", "les", "un", "une", "des", "du", "de", "et", "ou", "je", "tu", "il",
        "elle", "nous", "vous", "ils", "est", "sont", "ce", "ça", "cela", "que", "qui",
        "quoi", "comment", "pourquoi", "quand", "où", "va", "vais", "pas", "mais", "très",
        "avec", "pour", "dans", "sur", "mon", "ma", "mes", "votre", "vos", "parlez", "moi",
        "aime", "beaucoup",
    },
    "de": {
        "der", "die", "das", "ein", "eine", "und", "oder", "ich", "sie", "er", "es", "wir",
        "ihr", "ist", "sind", "wie", "was", "warum", "wann", "wo", "geht", "nicht", "aber",
        "sehr", "mit", "für", "über", "mein", "meine", "ihnen", "mir", "gut",
    },
    "es": {
        "el", "la", "los", "las", "un", "uno", "una", "de", "del", "que", "es", "en", "y",
        "o", "yo", "él", "ella", "usted", "son", "qué", "cómo", "por", "para", "cuándo",
        "dónde", "está", "estás", "muy", "con", "sobre", "mi", "mis", "su", "sus", "me",
        "te", "lo", "gusta", "mucho",
    },
}  # fmt: skip
STOPWORDS = set().union(*COMMON_WORDS.values())
# Japanese is told by its script (kana and kanji start at U+3040), not by its words.
JAPANESE_SCRIPT_FROM = "\u3040"
GREETINGS = {"guten", "buenos", "buenas", "bonsoir", "servus", "moin"}
THANKS = {"vielen", "muchas"}
BYES = {"tschüss", "tschüs", "wiedersehen", "adiós", "adios", "chao", "pronto", "bientôt"}
JAPANESE_OPENERS = {"thanks": ("ありがとう",), "bye": ("さようなら", "またね")}
