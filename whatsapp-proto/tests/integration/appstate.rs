//! App-state sync crypto: the app-state KAT, patch processing and history-sync blobs.
