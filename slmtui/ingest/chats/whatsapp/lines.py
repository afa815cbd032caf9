"""What a WhatsApp message line is when it is not writing: system, call, media, deleted.

WhatsApp writes these lines in the phone's language. iOS marks every line it wrote itself
(attachments, "image omitted", deleted messages, group events) with a left-to-right mark
(U+200E) at the start of the text, so a marked text is never writing, whatever its language;
Android marks nothing, so its placeholders are recognised by their words, in the languages
below. An "edited" mark at the end of a message is removed and the message kept. An attachment
line with a caption under it (`IMG-20241202-WA0001.jpg (file attached)` then the caption) keeps
the caption.
"""

from __future__ import annotations

import re

MARK = "\u200e"

_EDITED = re.compile(
    r"\s*[<‹]\u200e?(?:This message was edited|Diese Nachricht wurde bearbeitet"
    r"|Se editó este mensaje\.?|Este mensaje fue editado|Ce message a été modifié"
    r"|Mensagem editada|Esta mensagem foi editada|Questo messaggio è stato modificato"
    r"|Dit bericht is bewerkt|Изменено|Сообщение изменено|Bu mesaj düzenlendi"
    r"|Viestiä on muokattu)[>›]$",
    re.I,
)

# Android's "<Media omitted>" in the languages WhatsApp ships most, compared casefolded.
_OMITTED = {
    "media omitted", "medien ausgeschlossen", "multimedia omitido", "archivo omitido",
    "médias omis", "fichier omis", "media omessi", "mídia oculta", "arquivo de mídia oculto",
    "media weggelaten", "без медиафайлов", "медиафайл отсутствует", "medya dahil edilmedi",
    "メディアなし", "媒体文件已省略", "省略影音內容", "미디어 파일 제외됨", "media dihilangkan",
    "media tidak disertakan", "pominięto multimedia", "media jätetty pois", "media utelämnad",
    "mediefil udeladt", "média vynechána", "médiafájl kihagyva", "вилучено медіафайл",
    "без медіафайлів", "تم استبعاد الوسائط", "रिक्त मीडिया", "null",
}  # fmt: skip
_PLACEHOLDER = re.compile(r"^[<‹«]\s*(?P<inner>[^<>‹›«»\n]{2,40}?)\s*[>›»]$")
_ATTACHED_TAG = re.compile(
    r"^<\s*(?:attached|adjunto|anexado|angehängt|joint|allegato):\s*[^>]+>$", re.I
)
_OMITTED_KIND = re.compile(
    r"^(?:(?:image|video|audio|sticker|GIF|document|Contact card|voice message|photo) omitted"
    r"|(?:Bild|Video|Audio|Sticker|GIF|Dokument|Kontaktkarte) weggelassen"
    r"|(?:imagen|video|audio|sticker|GIF|documento|tarjeta de contacto) omitid[oa]"
    r"|(?:imagem|vídeo|áudio|figurinha|GIF|documento) ocultad[oa]"
    r"|(?:image|vidéo|audio|autocollant|GIF|document) absente?"
    r"|(?:immagine|video|audio|sticker|GIF|documento) omess[oa]"
    r"|(?:изображение|видео|аудио|стикер|GIF|документ) отсутствует)$",
    re.I,
)
_FILE_ATTACHED = re.compile(
    r"^(?P<file>\S[^\n]*?\.\w{2,5}) \((?:file attached|fichier joint|archivo adjunto"
    r"|Datei angehängt|arquivo anexado|file allegato|bestand bijgevoegd|файл добавлен"
    r"|файл прикреплён|dosya ekli|plik załączony|tiedosto liitetty|fil bifogad)\)$",
    re.I,
)
_LOCATION = re.compile(
    r"^(?:location|standort|ubicación|localização|position|местоположение): https?://\S+$", re.I
)
_DELETED = re.compile(
    r"^(?:🚫\s?)?(?:This message was deleted|You deleted this message|Waiting for this message"
    r"[^\n]*|Diese Nachricht wurde gelöscht|Du hast diese Nachricht gelöscht"
    r"|Este mensaje fue eliminado|Eliminaste este mensaje|Se eliminó este mensaje"
    r"|Ce message a été supprimé|Vous avez supprimé ce message|Essa mensagem foi apagada"
    r"|Esta mensagem foi apagada|Você apagou esta mensagem|Apagou esta mensagem"
    r"|Questo messaggio è stato eliminato|Hai eliminato questo messaggio"
    r"|Dit bericht is verwijderd|Je hebt dit bericht verwijderd|Данное сообщение удалено"
    r"|Это сообщение удалено|Вы удалили это сообщение|Bu mesaj silindi|Bu mesajı sildiniz"
    r"|Tämä viesti poistettiin|Poistit tämän viestin|Ta wiadomość została usunięta)\.?$",
    re.I,
)
# Calls, with what follows them: a duration ("12 min", "1 ч 5 мин") or "Tap to call back".
_CALL = re.compile(
    r"^(?:(?:Missed|Silenced) (?:group )?(?:voice|video) call|(?:Group )?(?:Voice|Video) call"
    r"|Пропущенный (?:групповой )?(?:аудио|видео)звонок|(?:Групповой )?(?:[Аа]удио|[Вв]идео)звонок"
    r"|Verpasster (?:Sprach|Video)anruf|(?:Sprach|Video)anruf"
    r"|Llamada (?:de voz|de video|de vídeo) perdida|Llamada de voz|Videollamada"
    r"|Chamada de (?:voz|vídeo) perdida|Chamada de (?:voz|vídeo)"
    r"|Appel (?:vocal|vidéo) manqué|Appel (?:vocal|vidéo)"
    r"|Chiamata (?:vocale|video) persa|Chiamata vocale|Videochiamata"
    r"|Gemiste (?:spraak|video)oproep|(?:Spraak|Video)oproep"
    r"|Cevapsız (?:sesli|görüntülü) arama|(?:Sesli|Görüntülü) arama"
    r"|Vastaamaton (?:ääni|video)puhelu|(?:Ääni|Video)puhelu)"
    r"(?:, [^\n]{0,40})?$",
    re.I,
)
# Notices WhatsApp writes at the top of a chat: nobody types these words, so a text that starts
# with them is a system line whoever it seems to come from (an iOS business chat's own name).
_NOTICE = re.compile(
    r"^(?:Messages and calls are end-to-end encrypted|Messages to this group are now secured"
    r"|This business uses a secure service from Meta|This chat is with a business account"
    r"|This business works with other companies|Your security code with .{1,80} changed"
    r"|Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt"
    r"|Los mensajes y las llamadas están cifrados|As mensagens e as chamadas são protegidas"
    r"|Les messages et les appels sont chiffrés|I messaggi e le chiamate sono crittografati"
    r"|Berichten en oproepen worden end-to-end|Сообщения и звонки защищены"
    r"|Viestit ja puhelut ovat päästä päähän salattuja)",
    re.I,
)
# Group events in WhatsApp's words, for a "sender" seen once whose line may be one (the words
# are common enough that a real message could hold them, so they never decide alone).
_EVENT = re.compile(
    r"(?:is a contact\.?$|created (?:this )?group|changed the (?:subject|group description)"
    r"|changed this group's (?:icon|settings)|joined using this group's invite link"
    r"|changed their phone number|You're now an admin|turned (?:on|off) disappearing messages"
    r"|^You (?:added|removed|left)\b"
    r"|изменил[аи]? (?:тему|описание|изображение)|создал[аи]? (?:группу|чат)|добавил[аи]? \S"
    r"|удалил[аи]? \S|вышел|вышла|hat den Betreff|hat die Gruppe|hinzugefügt|cambió el asunto"
    r"|creó el grupo|añadió a|mudou o assunto|criou o grupo|adicionou|a modifié le sujet"
    r"|a créé le groupe|a ajouté)",
    re.I,
)


# Every placeholder is short, and starts with one of these (a cheap test before the patterns).
_LONGEST = 300
_MAYBE = re.compile(
    "|".join(
        f"(?:{p.pattern.removeprefix('^')})"
        for p in (_PLACEHOLDER, _ATTACHED_TAG, _OMITTED_KIND, _FILE_ATTACHED, _LOCATION,
                  _DELETED, _CALL)
    ) + r"|null$",
    re.I,
)  # fmt: skip


def edited_removed(text: str) -> str:
    return _EDITED.sub("", text)


def placeholder(text: str) -> str | None:
    """Why a whole message text is not writing ("media", "deleted", "call"), or None."""
    stripped = text.strip()
    if len(stripped) > _LONGEST or not _MAYBE.match(stripped):
        return None  # most messages: one quick look says none of the patterns can match
    match = _PLACEHOLDER.match(stripped)
    if (match and match.group("inner").casefold() in _OMITTED) or stripped.casefold() == "null":
        return "media"
    if _ATTACHED_TAG.match(stripped) or _OMITTED_KIND.match(stripped) or _LOCATION.match(stripped):
        return "media"
    if _FILE_ATTACHED.match(stripped):
        return "media"
    if _DELETED.match(stripped):
        return "deleted"
    if _CALL.match(stripped):
        return "call"
    return None


def without_attachment(lines: list[str]) -> list[str]:
    """The lines of a message with its leading attachment line removed (a caption stays)."""
    first = lines[0].lstrip(MARK).strip()
    if not first.endswith((")", ">")):
        return lines
    if _FILE_ATTACHED.match(first) or _ATTACHED_TAG.match(first):
        return lines[1:]
    return lines


def marked_kind(text: str) -> str:
    """What an iOS line that starts with the mark is: its placeholder kind, else "system"."""
    return placeholder(text.replace(MARK, "")) or "system"


def is_notice(text: str) -> bool:
    """A notice WhatsApp writes (encryption, business chats), whoever seems to send it."""
    return bool(_NOTICE.match(text.strip()))


def is_event_text(text: str) -> bool:
    """A group event in the words WhatsApp uses for them."""
    return bool(_EVENT.search(text))
