"""Reading the data sets: GoEmotions and its Ekman grouping, DAIR.AI emotion, label sets, augmentation."""
