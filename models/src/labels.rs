//! The eight emotion labels and the RAVDESS file naming.

/// The canonical label order: index `i` of every probability array is `LABELS[i]`.
pub const LABELS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

/// Index of a label name (exact, lowercase) in [`LABELS`].
pub fn label_index(name: &str) -> Option<usize> {
    LABELS.iter().position(|&l| l == name)
}

/// The fields of a RAVDESS file name `MM-VV-EE-II-SS-RR-AA.ext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RavdessName {
    /// Modality (01 full-AV, 02 video-only, 03 audio-only).
    pub modality: u8,
    /// Vocal channel (01 speech, 02 song).
    pub vocal_channel: u8,
    /// Emotion code 1..=8 (`label() = emotion - 1`).
    pub emotion: u8,
    /// Intensity (01 normal, 02 strong).
    pub intensity: u8,
    /// Statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door").
    pub statement: u8,
    /// Repetition (01 or 02).
    pub repetition: u8,
    /// Actor 1..=24 (odd male, even female).
    pub actor: u8,
}

impl RavdessName {
    /// Parse a file name (or path; only the file name is read). `None` when it
    /// is not seven two-digit fields with an emotion in 1..=8.
    pub fn parse(file_name: &str) -> Option<Self> {
        let base = file_name.rsplit(['/', '\\']).next()?;
        let stem = base.split('.').next()?;
        let parts: Vec<u8> = stem
            .split('-')
            .map(|p| {
                if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            })
            .collect::<Option<_>>()?;
        let [modality, vocal_channel, emotion, intensity, statement, repetition, actor] = parts[..]
        else {
            return None;
        };
        if !(1..=8).contains(&emotion) {
            return None;
        }
        Some(RavdessName {
            modality,
            vocal_channel,
            emotion,
            intensity,
            statement,
            repetition,
            actor,
        })
    }

    /// Index of the emotion in [`LABELS`].
    pub fn label(&self) -> usize {
        usize::from(self.emotion - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ravdess_names() {
        let n = RavdessName::parse("Actor_07/03-01-06-02-01-02-07.wav").unwrap();
        assert_eq!((n.emotion, n.actor, n.intensity, n.label()), (6, 7, 2, 5));
        assert_eq!(LABELS[n.label()], "fearful");
        assert_eq!(label_index("surprised"), Some(7));
        assert_eq!(label_index("Surprised"), None);
        for bad in [
            "03-01-09-01-01-01-01.wav",
            "03-01-01-01-01-01.wav",
            "notes.txt",
            "3-1-1-1-1-1-1.wav",
        ] {
            assert!(RavdessName::parse(bad).is_none(), "{bad}");
        }
    }
}
